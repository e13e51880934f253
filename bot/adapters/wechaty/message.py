"""Wechaty message model: plain text and @-mentions, nothing else.

A WeChat text message is plain text; a mention is "@<name>" in the text plus the member's id in
`mention_ids`. Strings are never parsed for markup: a user typing `[CQ:at,qq=all]` (or a
template rendering a nickname like that) stays literal text (nonebot2#781).
"""

from __future__ import annotations

from collections.abc import Iterable

from nonebot.adapters import Message as BaseMessage
from nonebot.adapters import MessageSegment as BaseMessageSegment
from typing_extensions import override


class MessageSegment(BaseMessageSegment["Message"]):
    """One piece of a message: `text` (data: text) or `mention` (data: user_id)."""

    @classmethod
    @override
    def get_message_class(cls) -> type[Message]:
        return Message

    @override
    def __str__(self) -> str:
        if self.type == "text":
            return self.data["text"]
        if self.type == "mention":
            # Display form only; the real "@name" is resolved from the room when sending.
            return f"@{self.data['user_id']}"
        return ""

    @override
    def is_text(self) -> bool:
        return self.type == "text"

    @staticmethod
    def text(text: str) -> MessageSegment:
        return MessageSegment("text", {"text": text})

    @staticmethod
    def mention(user_id: str) -> MessageSegment:
        """Mention a room member by contact id; rendered as "@<room alias or name> "."""
        return MessageSegment("mention", {"user_id": user_id})


class Message(BaseMessage[MessageSegment]):
    """A sequence of text and mention segments."""

    @classmethod
    @override
    def get_segment_class(cls) -> type[MessageSegment]:
        return MessageSegment

    @staticmethod
    @override
    def _construct(msg: str) -> Iterable[MessageSegment]:
        # Deliberately no markup parsing: any str becomes exactly one text segment.
        if msg:
            yield MessageSegment.text(msg)

    def mention_ids(self) -> list[str]:
        """Ids of the mention segments, in order, without duplicates."""
        seen: dict[str, None] = {}
        for seg in self:
            if seg.type == "mention":
                seen.setdefault(seg.data["user_id"], None)
        return list(seen)
