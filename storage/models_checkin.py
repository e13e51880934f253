"""Tables of the check-in capability (issue 3) and of the general scheduler.

Imported by the last line of ``storage.models`` so that Alembic and
``SQLModel.metadata`` see them like every other table. Times are aware UTC,
as everywhere in storage.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint, false, text
from sqlmodel import Field, SQLModel

from ground.timeutil import utcnow

ROUND_OPEN = "open"
ROUND_CLOSED = "closed"


class RecurringRound(SQLModel, table=True):
    """A round opened every day by the scheduler (``/排查 每天 …``).

    The scope is kept resolved (kind + ids) rather than as text, so a group's
    later re-binding cannot change what a daily round covers; the unit list is
    re-read from the roster at each opening so new units are included.
    """

    id: int | None = Field(default=None, primary_key=True)
    title: str
    scope_kind: str
    scope_ids: str = ""  # comma-separated ids of the resolved Scope
    scope_label: str
    open_minute: int  # minutes after local (Asia/Shanghai) midnight
    close_minute: int
    created_by: str
    created_at: datetime = Field(default_factory=utcnow)
    active: bool = True


class CheckinRound(SQLModel, table=True):
    """A screening round (排查). Its number ``#N`` shown to people is the id."""

    id: int | None = Field(default=None, primary_key=True)
    title: str
    scope_kind: str
    scope_ids: str = ""
    scope_label: str
    opened_by: str
    opened_at: datetime = Field(default_factory=utcnow)
    deadline: datetime
    state: str = Field(default=ROUND_OPEN, index=True)  # open | closed
    closed_at: datetime | None = None
    closed_by: str | None = None
    recurring_id: int | None = Field(default=None, foreign_key="recurringround.id")


class CheckinRoundUnit(SQLModel, table=True):
    """The units a round covers, snapshotted when it opens.

    Registered households and the unit's place in the tree are copied so a
    roster edit during a running round changes neither its denominator nor its
    roll-up, and the roll-up needs no joins.
    """

    # Each confirmation's running tally reads one community of the round.
    __table_args__ = (
        Index("ix_checkinroundunit_community", "round_id", "community_id", "building_id"),
    )

    round_id: int = Field(foreign_key="checkinround.id", primary_key=True)
    unit_id: int = Field(foreign_key="unit.id", primary_key=True)
    building_id: int
    grid_id: int
    community_id: int
    households: int


class CheckinRescreen(SQLModel, table=True):
    """A unit reopened in a round (``/排查 重排``): its report until then stays in the
    history but no longer counts, and a withdrawal never brings back a report from
    before ``after_report_id``."""

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="checkinround.id", index=True)
    unit_id: int = Field(foreign_key="unit.id")
    after_report_id: int = 0  # the unit's last report id in the round when reopened
    at: datetime
    by: str
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class SpotCheck(SQLModel, table=True):
    """抽查: a reported unit whose figures a second person confirms (``/核实``).
    ``id`` is the number the checker answers with."""

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="checkinround.id", index=True)
    unit_id: int = Field(foreign_key="unit.id")
    report_id: int = Field(foreign_key="checkinreport.id")
    checker: str  # the account asked privately
    asked_by: str
    asked_at: datetime
    verdict: str | None = None  # 属实 | 不符
    answered_at: datetime | None = None
    note: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class CheckinReport(SQLModel, table=True):
    """One submission of ``/打卡``. History is kept: an amendment clears
    ``is_current`` on the previous row; at most one current row per round and
    unit (partial unique index), which is what every tally joins on."""

    __table_args__ = (
        Index("ix_checkinreport_round_unit", "round_id", "unit_id"),
        Index(
            "ux_checkinreport_current",
            "round_id",
            "unit_id",
            unique=True,
            sqlite_where=text("is_current = 1"), postgresql_where=text("is_current"),
        ),
        # The running tally of each confirmation counts a community's and a
        # building's current reports by this index alone (no join per unit).
        Index(
            "ix_checkinreport_current_place", "round_id", "community_id", "building_id",
            sqlite_where=text("is_current = 1"), postgresql_where=text("is_current"),
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="checkinround.id")
    unit_id: int = Field(foreign_key="unit.id")
    # Copied from the round's unit snapshot (checkinroundunit), for that index.
    building_id: int | None = None
    community_id: int | None = None
    reporter: str  # account that sent the report
    households: int
    returned: int = 0
    isolated: int = 0
    abnormal: int = 0
    # Households not screened for a reason: 空置 (vacant), 外出 (away, reached by
    # phone), 拒访 (refused). Coverage counts them; 拒访 is listed for staff.
    vacant: int = 0
    away: int = 0
    refused: int = 0
    note: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    reported_at: datetime = Field(default_factory=utcnow)
    is_current: bool = True


# --- scheduler ------------------------------------------------------------------------------

ITEM_PENDING = "pending"
ITEM_CLAIMED = "claimed"
ITEM_DONE = "done"
ITEM_MISSED = "missed"
ITEM_CANCELLED = "cancelled"


class ScheduledItem(SQLModel, table=True):
    """Something due at a moment: the truth behind ``bot.scheduler``.

    APScheduler only holds in-memory jobs rebuilt from the pending rows at
    start; a row moves pending -> claimed (atomically, by whoever fires it) ->
    done, so nothing runs twice even across restarts. ``missed`` is a row found
    too late at start; ``cancelled`` one dropped by its owner (a round ended early).
    """

    __table_args__ = (UniqueConstraint("kind", "ref_id", "due_at"),)
    id: int | None = Field(default=None, primary_key=True)
    kind: str
    ref_id: int
    due_at: datetime
    state: str = Field(default=ITEM_PENDING, index=True)
    fired_at: datetime | None = None
    attempts: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    # Fired after a downtime, within the scheduler's grace: handlers say "（补发）".
    late: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
