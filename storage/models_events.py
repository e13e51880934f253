"""Tables of the event capabilities: home quarantine with daily health checks,
incidents answered by the 应急小分队, and recurring duties (消杀, 演练).

Imported by the last line of ``storage.models`` so that Alembic and
``SQLModel.metadata`` see them. Times are aware UTC, as everywhere in storage;
calendar dates (a quarantine's start and end) are plain dates in Asia/Shanghai.

Personal data lives in ``Quarantine.name`` and ``Quarantine.room`` /
``Incident.room`` only: templates show the name masked and the room only in
private chats (DESIGN.md §4); audit rows and logs carry ids, never these.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from ground.timeutil import utcnow

QUARANTINE_ACTIVE = "active"
QUARANTINE_RELEASED = "released"

INCIDENT_OPEN = "open"
INCIDENT_ACKED = "acked"
INCIDENT_CLOSED = "closed"


class Quarantine(SQLModel, table=True):
    """One home-quarantine entry (居家隔离). Its ``id`` is the 编号 people type.

    The quarantine runs from ``start_date`` for ``days`` days; ``end_date`` =
    start + days is the day it is over (stored so lists and reminders need no
    arithmetic in SQL).
    """

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    room: str
    name: str = ""  # may be empty; never rendered unmasked
    start_date: date
    days: int
    end_date: date
    state: str = Field(default=QUARANTINE_ACTIVE, index=True)  # active | released
    created_by: str
    created_at: datetime = Field(default_factory=utcnow)
    released_at: datetime | None = None
    released_by: str | None = None


class HealthCheck(SQLModel, table=True):
    """One ``/健康`` record of a quarantine entry (history kept, several a day allowed).

    The temperature is kept in hundredths of a degree so that the fever
    threshold (37.3) compares exactly.
    """

    id: int | None = Field(default=None, primary_key=True)
    quarantine_id: int = Field(foreign_key="quarantine.id", index=True)
    temp_centi: int
    symptoms: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    abnormal: bool = False  # fever or symptoms: the 四人一专班 was alerted
    reported_by: str
    reported_at: datetime = Field(default_factory=utcnow)


class Incident(SQLModel, table=True):
    """An incident (设备离线, 标识掉落, 私自外出, 其他) for the 应急小分队.

    Response times are stored in minutes when they happen, for the audit by
    纪检监督组: from report to acknowledgement and from report to closing.
    """

    id: int | None = Field(default=None, primary_key=True)
    kind: str
    unit_id: int = Field(foreign_key="unit.id", index=True)
    room: str = ""
    note: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    reported_by: str
    reported_at: datetime = Field(default_factory=utcnow)
    state: str = Field(default=INCIDENT_OPEN, index=True)  # open | acked | closed
    acked_by: str | None = None
    acked_at: datetime | None = None
    ack_minutes: int | None = None
    escalated_at: datetime | None = None
    closed_by: str | None = None
    closed_at: datetime | None = None
    close_minutes: int | None = None
    result: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class Duty(SQLModel, table=True):
    """A recurring duty (``/任务``): every day, a weekday, or a day of the month.

    ``schedule`` is daily | weekly | monthly; ``schedule_arg`` the weekday
    (0 = Monday) or the day of the month (1..31, clamped to short months).
    The scope is kept resolved, like a daily check-in round, so a group's later
    re-binding cannot change what the duty covers.
    """

    id: int | None = Field(default=None, primary_key=True)
    name: str
    schedule: str
    schedule_arg: int = 0
    minute: int  # minutes after local (Asia/Shanghai) midnight
    scope_kind: str
    scope_ids: str = ""  # comma-separated ids of the resolved Scope
    scope_label: str
    created_by: str
    created_at: datetime = Field(default_factory=utcnow)
    active: bool = True
    stopped_at: datetime | None = None
    stopped_by: str | None = None


class DutyOccurrence(SQLModel, table=True):
    """One occurrence of a duty, created by the scheduler at its time."""

    __table_args__ = (UniqueConstraint("duty_id", "starts_at"),)
    id: int | None = Field(default=None, primary_key=True)
    duty_id: int = Field(foreign_key="duty.id", index=True)
    starts_at: datetime
    chase_at: datetime
    created_at: datetime = Field(default_factory=utcnow)


class DutyUnit(SQLModel, table=True):
    """A unit an occurrence covers (snapshotted when it starts) and its check-in."""

    occurrence_id: int = Field(foreign_key="dutyoccurrence.id", primary_key=True)
    unit_id: int = Field(foreign_key="unit.id", primary_key=True)
    building_id: int
    grid_id: int
    community_id: int
    done_at: datetime | None = None
    done_by: str | None = None
