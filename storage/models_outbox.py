"""The outbox: every pushed message, one row per (message, target), with its fate.

States: pending -> sending -> sent | unknown | failed; pending -> cancelled.
`unknown` means the send may or may not have reached the platform (timeout,
connection lost mid-call, process killed): it is shown to staff, never resent
by the bot on its own.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from ground.timeutil import utcnow

OUT_PENDING = "pending"
OUT_SENDING = "sending"
OUT_SENT = "sent"
OUT_UNKNOWN = "unknown"
OUT_FAILED = "failed"
OUT_CANCELLED = "cancelled"
OUT_FINAL = (OUT_SENT, OUT_UNKNOWN, OUT_FAILED, OUT_CANCELLED)


class OutboxItem(SQLModel, table=True):
    __table_args__ = (Index("ix_outbox_queue_state", "queue", "state", "priority", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow)
    # One paced queue per sending account: "qq:<bot id>", "wx:<bot id>", "webhook:<group id>".
    queue: str = Field(index=True)
    platform: str
    bot_id: str = ""
    target_kind: str  # group | account | webhook
    target: str  # platform group id, account id (platform:id) or webhook URL
    chat_group_id: int | None = Field(default=None, index=True)
    text: str = Field(sa_column=Column(Text, nullable=False))
    mentions: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))
    priority: int = 0  # higher first: alerts and replies-by-push before publicity
    not_before: datetime | None = None  # quiet hours hold ordinary broadcasts
    source: str = Field(default="", index=True)  # e.g. "broadcast:12", "checkin:remind:3"
    state: str = Field(default=OUT_PENDING, index=True)
    attempts: int = 0
    error: str = ""
    sending_at: datetime | None = None
    claimed_by: str | None = None  # the holder of the claiming process's outbox lease
    finished_at: datetime | None = None
