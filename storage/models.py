"""SQLModel tables: the persistent truth of the bot.

Scopes are stored as (scope_kind, scope_id) pairs: kind is one of
``all`` / ``community`` / ``grid`` / ``building`` / ``unit`` and id the row id
(0 for ``all``). Times are aware datetimes stored as UTC; helpers in
``ground.timeutil`` convert for people.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from ground.timeutil import utcnow

SCOPE_KINDS = ("all", "community", "grid", "building", "unit")


class Community(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True)


class Grid(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("community_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    name: str


class Building(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("community_id", "number"),)
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    grid_id: int = Field(foreign_key="grid.id", index=True)
    number: int = Field(index=True)  # "3栋2单元" is looked up by number on every /打卡


class Unit(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("building_id", "number"),)
    id: int | None = Field(default=None, primary_key=True)
    building_id: int = Field(foreign_key="building.id", index=True)
    number: int
    households: int = 0


class Person(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str
    created_at: datetime = Field(default_factory=utcnow)


class Account(SQLModel, table=True):
    """A platform identity (``qq:10001``) bound to a person."""

    id: str = Field(primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    bound_at: datetime = Field(default_factory=utcnow)


class RoleGrant(SQLModel, table=True):
    __table_args__ = (
        Index("ix_rolegrant_person_role", "person_id", "role"),
        UniqueConstraint("person_id", "role", "scope_kind", "scope_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id")
    role: str
    scope_kind: str = "all"
    scope_id: int = 0
    expires_at: datetime | None = None
    granted_by: str = ""
    created_at: datetime = Field(default_factory=utcnow)


class TeamMember(SQLModel, table=True):
    """Membership of a working group (工作组) such as 数据统计排查组."""

    __table_args__ = (UniqueConstraint("person_id", "team"),)
    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    team: str


class ChatGroup(SQLModel, table=True):
    """A chat group the bot serves: a work group, resident group or team group."""

    __table_args__ = (UniqueConstraint("platform", "group_id"),)
    id: int | None = Field(default=None, primary_key=True)
    platform: str
    group_id: str
    bot_id: str = ""
    kind: str  # work | resident | team
    team: str | None = None
    scope_kind: str = "all"
    scope_id: int = 0
    bound_by: str = ""
    # A WeCom group-robot webhook: push-only channel used instead of a bot-joined room.
    webhook_url: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


class DirectoryVersion(SQLModel, table=True):
    """One row, bumped by triggers on every change to chatgroup, account, person,
    rolegrant and teammember (migration 0008): how storage.directory knows, with one
    cheap read, that its in-memory copy is stale, whichever process wrote."""

    id: int = Field(default=1, primary_key=True)
    n: int = 0


class Invite(SQLModel, table=True):
    code: str = Field(primary_key=True)
    person_id: int = Field(foreign_key="person.id")
    role: str
    scope_kind: str = "all"
    scope_id: int = 0
    created_by: str
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None
    used_by: str | None = None


class PendingAsk(SQLModel, table=True):
    """A command held back for ``/确认`` (a second round with the same title within
    10 minutes, /结束 with units unreported): one per sender, chat and kind, until
    confirmed, cancelled or expired. ``payload`` is what the command needs to run."""

    __table_args__ = (UniqueConstraint("account", "chat", "kind", name="ux_pendingask_who"),)

    id: int | None = Field(default=None, primary_key=True)
    account: str
    chat: str  # "qq:group:123" or "qq:private" — confirmed only where it was asked
    kind: str
    payload: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_at: datetime
    expires_at: datetime


class CommandUse(SQLModel, table=True):
    """How often an account used a command (bot.usage): /帮助 lists theirs first."""

    account: str = Field(primary_key=True)
    command: str = Field(primary_key=True)
    uses: int = 0
    last_used: datetime


class AuditLog(SQLModel, table=True):
    """Who did what, ids and codes only (no personal data: the retention purge never
    rewrites it). Each row's ``hash`` chains it to the row before (storage.auditchain)."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    actor: str
    action: str = Field(index=True)
    detail: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    subject_kind: str = ""  # round, broadcast, incident, person, … ("" when none)
    subject_id: int | None = None
    scope: str = ""  # the scope acted on, as kind:id ("" when none)
    prev_hash: str = ""
    hash: str = ""


class AuditCheckpoint(SQLModel, table=True):
    """A head of the audit chain once verified clean: a later cut of the tail shows."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime
    last_id: int
    head: str
    rows: int


from storage.models_broadcast import Broadcast, BroadcastAck  # noqa: E402,F401
from storage.models_checkin import (  # noqa: E402,F401  (check-in and scheduler tables)
    CheckinReport,
    CheckinRescreen,
    CheckinRound,
    CheckinRoundUnit,
    RecurringRound,
    ScheduledItem,
    SpotCheck,
)
from storage.models_console import ConsoleLink, ConsoleSession  # noqa: E402,F401  (web console)
from storage.models_deadlines import Alert, AssistTask, Reminder  # noqa: E402,F401  (deadlines)
from storage.models_events import Duty, Incident, Quarantine  # noqa: E402,F401  (events)
from storage.models_outbox import OutboxItem  # noqa: E402,F401  (the paced outbox)
from storage.models_publicity import Policy, Slogan  # noqa: E402,F401  (slogans, policy notes)
