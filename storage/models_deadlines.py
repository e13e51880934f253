"""Tables of the deadline capabilities and of the scheduler's lease.

- ``SchedulerLease``: which process may arm timers on this database (one row
  per scheduler name). A second process pointed at the same file sees a live
  lease and stands by, so nothing fires twice.
- ``Reminder``: ``/提醒`` — a text sent to one chat at a moment (or every day).
- ``Alert`` + ``AlertAck``: the ``/预警`` trigger chain — every work group
  acknowledges within 2 h; a screening round over all units closes in 48 h.
- ``AssistTask``: a 协查函 the 流调组 must complete within 24 h.

Imported by the last line of ``storage.models`` so that Alembic and
``SQLModel.metadata`` see them. Times are aware UTC, as everywhere in storage.
Chat groups are referenced without a foreign key: unbinding a group deletes its
row and must not be blocked by an old reminder or acknowledgement (a snapshot of
the label is kept where people read it).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from ground.timeutil import utcnow

REMINDER_ACTIVE = "active"
REMINDER_SENT = "sent"
REMINDER_CANCELLED = "cancelled"

ASSIST_OPEN = "open"
ASSIST_DONE = "done"


class SchedulerLease(SQLModel, table=True):
    """The right to schedule, held by one process at a time.

    Taken and renewed with an atomic UPDATE/INSERT; a holder that stops renewing
    (crashed, frozen) loses it when ``expires_at`` passes.
    """

    name: str = Field(primary_key=True)
    holder: str  # a random id per Scheduler instance
    acquired_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime


class Reminder(SQLModel, table=True):
    """A ``/提醒``: ``text`` to one chat at ``due_at``, or daily at ``daily_minute``.

    ``chat_kind`` is ``group`` (``target`` = the platform group id) or
    ``private`` (``target`` = the account that asked). The 编号 people type is ``id``.
    """

    id: int | None = Field(default=None, primary_key=True)
    text: str = Field(sa_column=Column(Text, nullable=False))
    platform: str
    bot_id: str = ""
    chat_kind: str  # group | private
    target: str
    chat_group_id: int | None = Field(default=None, index=True)
    due_at: datetime
    daily_minute: int | None = None  # minutes after local midnight; None = once
    state: str = Field(default=REMINDER_ACTIVE, index=True)  # active | sent | cancelled
    created_by: str
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None
    cancelled_at: datetime | None = None
    cancelled_by: str | None = None


class Alert(SQLModel, table=True):
    """A ``/预警``: the trigger chain for people arriving from ``region``."""

    id: int | None = Field(default=None, primary_key=True)
    region: str
    created_by: str
    created_at: datetime = Field(default_factory=utcnow)
    ack_deadline: datetime
    round_id: int | None = Field(default=None, foreign_key="checkinround.id")
    round_deadline: datetime
    escalated_at: datetime | None = None  # a work group missed the acknowledgement


class AlertAck(SQLModel, table=True):
    """One work group's acknowledgement of an alert (snapshotted at the alert)."""

    alert_id: int = Field(foreign_key="alert.id", primary_key=True)
    chat_group_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    label: str  # the group's scope, as people read it (幸福社区/第一网格)
    acked_at: datetime | None = None
    acked_by: str | None = None
    ack_minutes: int | None = None


class AssistTask(SQLModel, table=True):
    """A 协查函 (``/协查``) for the 流调组: done within 24 h or escalated."""

    id: int | None = Field(default=None, primary_key=True)
    letter_no: str = Field(unique=True)  # the 函号 people type
    note: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_by: str
    created_at: datetime = Field(default_factory=utcnow)
    due_at: datetime
    state: str = Field(default=ASSIST_OPEN, index=True)  # open | done
    done_at: datetime | None = None
    done_by: str | None = None
    escalated_at: datetime | None = None
