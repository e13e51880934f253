"""The Wechaty bot: one logged-in WeChat account behind a gateway."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from nonebot.adapters import Bot as BaseBot
from nonebot.message import handle_event
from typing_extensions import override

from .event import Event, GroupMessageEvent, MessageEvent
from .exception import ActionFailed
from .message import Message, MessageSegment

if TYPE_CHECKING:
    from .adapter import Adapter

ROOM_ID_SUFFIX = "@chatroom"


def is_room_id(conversation_id: str) -> bool:
    """WeChat room ids end with `@chatroom`; contact ids never contain `@`."""
    return conversation_id.endswith(ROOM_ID_SUFFIX)


class Bot(BaseBot):
    """Send with `send(event, message)` or `send_to(conversation_id, message)`.

    Raw gateway calls go through `call_api` (so NoneBot's API hooks see them), e.g.
    `await bot.call_api("message_send_text", conversation_id=..., text=..., mention_ids=[...])`.
    Supported APIs: message_send_text, message_payload, contact_payload, room_payload,
    room_members, room_member_payload, ding.
    """

    adapter: Adapter

    @override
    def __init__(self, adapter: Adapter, self_id: str) -> None:
        super().__init__(adapter, self_id)

    async def handle_event(self, event: Event) -> None:
        """Run NoneBot's matchers for an event of this bot."""
        await handle_event(self, event)

    @override
    async def send(
        self,
        event: Event,
        message: str | Message | MessageSegment,
        *,
        at_sender: bool = False,
        **kwargs: Any,
    ) -> str | None:
        """Reply where `event` came from: its room, or privately to its sender.

        `at_sender` prefixes a mention of the sender (rooms only). Returns the message id
        when the gateway reports one.
        """
        if not isinstance(event, MessageEvent):
            raise ValueError(f"cannot reply to {event.get_event_name()}: no conversation")
        msg = Message(message)
        if isinstance(event, GroupMessageEvent):
            if at_sender:
                msg = MessageSegment.mention(event.user_id) + MessageSegment.text(" ") + msg
            return await self.send_to(event.group_id, msg, is_room=True)
        return await self.send_to(event.user_id, msg, is_room=False)

    async def send_to(
        self,
        conversation_id: str,
        message: str | Message | MessageSegment,
        *,
        is_room: bool | None = None,
    ) -> str | None:
        """Send text with mentions to a room or a contact.

        A mention segment becomes "@<room alias or name> " in the text and its id goes into
        `mention_ids` (WeChat needs both). In a private chat a mention is just the text.
        """
        msg = Message(message)
        room = is_room_id(conversation_id) if is_room is None else is_room
        mention_ids = msg.mention_ids() if room else []
        resolved = await asyncio.gather(
            *(self.display_name(uid, conversation_id) for uid in mention_ids)
        )
        names = dict(zip(mention_ids, resolved, strict=True))
        parts: list[str] = []
        for seg in msg:
            if seg.type == "text":
                parts.append(seg.data["text"])
            elif seg.type == "mention":
                uid = seg.data["user_id"]
                name = names.get(uid) or await self.display_name(uid, None)
                parts.append(f"@{name} ")
        return await self.call_api(
            "message_send_text",
            conversation_id=conversation_id,
            text="".join(parts),
            mention_ids=mention_ids,
        )

    async def display_name(self, user_id: str, room_id: str | None) -> str:
        """How WeChat shows a person: room alias (群昵称) in that room, else the contact name."""
        if room_id:
            try:
                member = await self.call_api(
                    "room_member_payload", room_id=room_id, contact_id=user_id
                )
            except ActionFailed:
                member = None  # e.g. no longer in the room: the contact name still works
            if member is not None and (member.room_alias or member.name):
                return member.room_alias or member.name
        contact = await self.call_api("contact_payload", contact_id=user_id)
        return contact.name or user_id
