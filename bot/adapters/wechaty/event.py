"""Wechaty events as NoneBot events.

Descriptions (what NoneBot logs for every event) name ids only, never the message text:
private chats carry personal data and logs must not (DESIGN §4).
"""

from __future__ import annotations

from typing import Literal

from nonebot.adapters import Event as BaseEvent
from nonebot.utils import escape_tag
from pydantic import Field
from typing_extensions import override

from .message import Message


class Event(BaseEvent):
    """Base of all Wechaty events."""

    self_id: str
    """The logged-in bot's contact id."""

    @override
    def get_type(self) -> str:
        return "meta_event"

    @override
    def get_event_name(self) -> str:
        return "meta_event"

    @override
    def get_event_description(self) -> str:
        return escape_tag(self.get_event_name())

    @override
    def get_message(self) -> Message:
        raise ValueError("Event has no message!")

    @override
    def get_user_id(self) -> str:
        raise ValueError("Event has no context!")

    @override
    def get_session_id(self) -> str:
        raise ValueError("Event has no context!")

    @override
    def is_tome(self) -> bool:
        return False


class MessageEvent(Event):
    """A text message received by the bot."""

    message_type: str
    message_id: str
    user_id: str
    """Sender's contact id (stable account id: `wx:<user_id>` in gridbot terms)."""
    message: Message
    """The text with a leading "@<bot name>" removed when the bot was mentioned."""
    original_message: Message
    """The text exactly as received."""
    mention_ids: list[str] = Field(default_factory=list)
    timestamp: int = 0
    """As sent by the gateway (milliseconds since the epoch for current puppets)."""
    to_me: bool = False

    @override
    def get_type(self) -> str:
        return "message"

    @override
    def get_event_name(self) -> str:
        return f"message.{self.message_type}"

    @override
    def get_message(self) -> Message:
        return self.message

    @override
    def get_user_id(self) -> str:
        return self.user_id

    @override
    def get_session_id(self) -> str:
        return self.user_id

    @override
    def is_tome(self) -> bool:
        return self.to_me


class PrivateMessageEvent(MessageEvent):
    """A private (one-to-one) message to the bot."""

    message_type: Literal["private"] = "private"
    to_me: bool = True

    @override
    def get_event_description(self) -> str:
        return escape_tag(f"Message {self.message_id} from {self.user_id} (private)")


class GroupMessageEvent(MessageEvent):
    """A message in a room (WeChat group) the bot is in."""

    message_type: Literal["group"] = "group"
    group_id: str
    """The room id (`...@chatroom`)."""

    @override
    def get_session_id(self) -> str:
        return f"group_{self.group_id}_{self.user_id}"

    @override
    def get_event_description(self) -> str:
        return escape_tag(
            f"Message {self.message_id} from {self.user_id}@[room:{self.group_id}]"
            + (" (to me)" if self.to_me else "")
        )
