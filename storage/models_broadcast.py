"""Broadcasts (宣传): previews, confirmations, acknowledgements; slogans; policy notes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from ground.timeutil import utcnow

BC_PREVIEW = "preview"
BC_CONFIRMED = "confirmed"
BC_CANCELLED = "cancelled"


class Broadcast(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    created_by: str
    created_at: datetime = Field(default_factory=utcnow)
    scope_label: str
    # The resolved target groups, frozen at preview time (JSON list of chat group ids),
    # so what staff confirmed is exactly what is sent.
    targets: str = Field(sa_column=Column(Text, nullable=False))
    text: str = Field(sa_column=Column(Text, nullable=False))
    urgent: bool = False
    ack_required: bool = False
    state: str = Field(default=BC_PREVIEW, index=True)
    confirmed_at: datetime | None = None
    not_before: datetime | None = None
    reported_at: datetime | None = None
    chased_at: datetime | None = None


class BroadcastAck(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("broadcast_id", "chat_group_id"),)
    id: int | None = Field(default=None, primary_key=True)
    broadcast_id: int = Field(foreign_key="broadcast.id", index=True)
    chat_group_id: int
    acked_by: str
    acked_at: datetime = Field(default_factory=utcnow)
