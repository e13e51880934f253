"""Check-in logic: rounds, reports, who is late. Plain async functions over a session.

Each function either changes the database and returns what it did, or raises
``CheckinError`` (a code that selects a template, plus context) before it has
written anything; callers run them inside ``db.write()``, which rolls back on
the exception, so a refusal never leaves a trace.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import and_, bindparam, exists, func, insert, literal, or_, true, update
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.delivery import MAX_MENTIONS_PER_MESSAGE, batch_by_mentions
from bot.platforms import Mention, mentions_of
from bot.scheduler import add_item, cancel_items
from ground.timeutil import SHANGHAI, as_utc
from plugins.checkin.report import Report, Withdraw
from plugins.checkin.tally import current_report
from storage import prepared
from storage.models import (
    Account,
    Building,
    ChatGroup,
    CheckinReport,
    CheckinRescreen,
    CheckinRound,
    CheckinRoundUnit,
    Community,
    Grid,
    Person,
    RecurringRound,
    ScheduledItem,
    Unit,
)
from storage.models_checkin import ROUND_CLOSED, ROUND_OPEN
from storage.places import (
    Leader,
    Place,
    Standing,
    broadest_work_groups_covering,
    closest_work_groups,
    covering_any,
    leaders_of,
    staff_groups,
    team_groups,
    unique,
)
from storage.repo import Scope, audit

KIND_REMIND = "checkin.remind"
KIND_DEADLINE = "checkin.deadline"
KIND_DAILY = "checkin.daily_open"
ROUND_KINDS = (KIND_REMIND, KIND_DEADLINE)
REMIND_SHARE = 0.8  # the reminder goes out when 80 % of the window has passed
ALERT_TEAM = "四人一专班"
STAFF_TEAM = "数据统计排查组"

RU = CheckinRoundUnit
_CUR = aliased(CheckinReport, name="cur")


class CheckinError(ValueError):
    def __init__(self, code: str, **context) -> None:
        super().__init__(code)
        self.code = code
        self.context = context


def _ru_within(scope_kind: str, scope_id: int):
    """SQL condition: a round unit lies inside a group's bound scope."""
    if scope_kind == "all":
        return true()
    column = {
        "community": RU.community_id,
        "grid": RU.grid_id,
        "building": RU.building_id,
        "unit": RU.unit_id,
    }[scope_kind]
    return col(column) == scope_id


def alert_targets(groups: Sequence[ChatGroup], place: Place) -> list[ChatGroup]:
    """Where an 异常 goes: 四人一专班 and staff (数据统计排查组, else the work group)."""
    out = team_groups(groups, ALERT_TEAM, place)
    staff = team_groups(groups, STAFF_TEAM, place)
    out += staff or closest_work_groups(groups, place)
    return unique(out)


def staff_targets(groups: Sequence[ChatGroup], places: Sequence[Place]) -> list[ChatGroup]:
    """Where a round's summary goes: 数据统计排查组 groups covering any of its units,
    else the broadest work groups covering them (one summary per group, not per grid)."""
    staff = covering_any(team_groups(groups, STAFF_TEAM), places)
    if staff:
        return staff
    return broadest_work_groups_covering(groups, places)


# --- opening rounds --------------------------------------------------------------------------


@dataclass
class Opened:
    round: CheckinRound
    units: int
    households: int
    buildings: list[str]
    items: list[ScheduledItem]


def _unit_source(round_id: int, scope_kind: str, ids: Sequence[int]):
    stmt = select(
        literal(round_id), Unit.id, Building.id, Building.grid_id, Building.community_id,
        Unit.households,
    ).join(Building, col(Building.id) == Unit.building_id)
    if scope_kind == "community":
        stmt = stmt.where(col(Building.community_id).in_(ids))
    elif scope_kind == "grid":
        stmt = stmt.where(col(Building.grid_id).in_(ids))
    elif scope_kind in ("building", "buildings"):
        stmt = stmt.where(col(Building.id).in_(ids))
    elif scope_kind == "unit":
        stmt = stmt.where(col(Unit.id).in_(ids))
    return stmt


def scope_of(kind: str, ids_text: str, label: str) -> Scope:
    ids = tuple(int(x) for x in ids_text.split(",") if x)
    return Scope(kind, ids, label)


async def open_round(
    session: AsyncSession,
    *,
    actor: str,
    title: str,
    scope: Scope,
    deadline: datetime,
    now: datetime,
    recurring_id: int | None = None,
) -> Opened:
    deadline, now = as_utc(deadline), as_utc(now)
    if deadline <= now:
        raise CheckinError("deadline_past", deadline=deadline)
    rnd = CheckinRound(
        title=title, scope_kind=scope.kind, scope_ids=",".join(str(i) for i in scope.ids),
        scope_label=scope.label, opened_by=actor, opened_at=now, deadline=deadline,
        recurring_id=recurring_id,
    )
    session.add(rnd)
    await session.flush()
    assert rnd.id is not None
    # The snapshot is one INSERT … SELECT: a 5,000-unit street opens in one statement.
    await session.exec(
        insert(RU).from_select(
            ["round_id", "unit_id", "building_id", "grid_id", "community_id", "households"],
            _unit_source(rnd.id, scope.kind, scope.ids),
        )
    )
    units, households = (
        await session.exec(
            select(func.count(), func.coalesce(func.sum(RU.households), 0)).where(
                RU.round_id == rnd.id
            )
        )
    ).one()
    if not units:
        raise CheckinError("empty_scope", scope=scope.label)
    buildings = await _building_labels(session, rnd.id)
    remind_at = now + (deadline - now) * REMIND_SHARE
    items = [
        await add_item(session, KIND_REMIND, rnd.id, remind_at),
        await add_item(session, KIND_DEADLINE, rnd.id, deadline),
    ]
    await audit(
        session, actor, "open_round",
        f"#{rnd.id} scope={scope.label} units={units} deadline={deadline.isoformat()}",
        at=now, subject=("round", rnd.id), scope=f"{scope.kind}:{','.join(map(str, scope.ids))}",
    )
    return Opened(rnd, int(units), int(households), buildings, items)


async def _building_labels(session: AsyncSession, round_id: int) -> list[str]:
    rows = (
        await session.exec(
            select(Community.name, Building.number)
            .select_from(RU)
            .join(Building, col(Building.id) == RU.building_id)
            .join(Community, col(Community.id) == RU.community_id)
            .where(RU.round_id == round_id)
            .group_by(col(Building.id), col(Community.id))  # the ids: names depend on them
            .order_by(Community.name, Building.number)
        )
    ).all()
    several = len({c for c, _ in rows}) > 1
    return [f"{c}/{n}栋" if several else f"{n}栋" for c, n in rows]


# --- reports ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    households: int  # screened
    returned: int
    isolated: int
    abnormal: int
    vacant: int = 0
    away: int = 0
    refused: int = 0

    @classmethod
    def of(cls, r) -> Counts:
        """From a parsed ``Report`` or a ``CheckinReport`` row."""
        return cls(r.households, r.returned, r.isolated, r.abnormal, r.vacant, r.away,
                   r.refused)

    @property
    def exempt(self) -> int:
        """Not screened for a reason that closes the gap: vacant or away."""
        return self.vacant + self.away

    @property
    def reached(self) -> int:
        """What coverage counts: screened, exempt and refused households."""
        return self.households + self.exempt + self.refused


@dataclass
class Submitted:
    round_id: int
    round_title: str
    unit_label: str
    counts: Counts
    note: str
    previous: Counts | None
    late: bool
    place: Place
    reporter_name: str = ""
    alert: bool = False  # 异常 > 0 and new or changed: 四人一专班 must hear of it
    alert_groups: list[ChatGroup] = field(default_factory=list)
    community: str = ""
    unchanged: bool = False  # the same figures as the current report, no note: not written
    refusal_groups: list[ChatGroup] = field(default_factory=list)  # a new 拒访: staff hear
    running: Running | None = None  # new reports only


@dataclass(frozen=True)
class Running:
    """The one-line tally of a confirmation: ``1栋：2/2 已报；幸福社区：4/6``."""

    building: str
    building_reported: int
    building_units: int
    community: str
    community_reported: int
    community_units: int


@dataclass(frozen=True)
class _Candidate:
    """A (round, unit) pair a report could be meant for, with the unit's current report."""

    round_id: int
    unit_id: int
    building_id: int
    grid_id: int
    community_id: int
    households: int
    title: str
    state: str
    deadline: datetime
    building_no: int
    unit_no: int
    prev_id: int | None
    prev: Counts | None
    round_scope: str = "all"  # the round's scope kind: the narrowest round wins
    # Units and current reports of the unit's building and community in the round,
    # before this report: the running tally of the confirmation.
    place_counts: tuple[int, int, int, int] = (0, 0, 0, 0)
    community_name: str = ""

    @classmethod
    def of(cls, row) -> _Candidate:
        prev = Counts(*row[12:16], *row[22:25]) if row[11] is not None else None
        return cls(*row[:12], prev, row[16], tuple(row[17:21]), row[21] or "")

    def running_after_report(self) -> Running:
        """The tally once this unit's first report is in."""
        b_units, b_reported, c_units, c_reported = self.place_counts
        return Running(f"{self.building_no}栋", b_reported + 1, b_units,
                       self.community_name, c_reported + 1, c_units)

    def narrowness(self) -> tuple[int, datetime, int]:
        return round_rank(self.round_scope, self.deadline, self.round_id)

    @property
    def label(self) -> str:
        return f"{self.building_no}栋{self.unit_no}单元"

    @property
    def place(self) -> Place:
        return Place(self.unit_id, self.building_id, self.grid_id, self.community_id)



_SCOPE_RANK = {"unit": 0, "building": 1, "buildings": 2, "grid": 3, "community": 4, "all": 5}


def round_rank(scope_kind: str, deadline: datetime, round_id: int) -> tuple[int, datetime, int]:
    """How a command without #N picks among open rounds: narrowest scope, then the
    nearest deadline, then the older round."""
    return (_SCOPE_RANK.get(scope_kind, len(_SCOPE_RANK)), as_utc(deadline), round_id)


_RU_PLACE = aliased(CheckinRoundUnit, name="ru_place")
_R_PLACE = aliased(CheckinReport, name="r_place")


def _place_count(model, building: bool, current: bool = False):
    """A count over one index range, correlated with the candidate's round unit:
    2,000 units in a community cost what 20 do."""
    stmt = select(func.count()).select_from(model).where(
        model.round_id == RU.round_id, model.community_id == RU.community_id)
    if building:
        stmt = stmt.where(model.building_id == RU.building_id)
    if current:
        stmt = stmt.where(model.is_current == true())
    return stmt.scalar_subquery()


def _candidates_stmt(by_round: bool, by_number: bool):
    """Built once per shape: /打卡 is the hot path and SQLAlchemy statement
    construction costs as much as the query itself. The running tally rides along
    (each statement is a round trip to the database thread)."""
    stmt = (
        select(
            RU.round_id, RU.unit_id, RU.building_id, RU.grid_id, RU.community_id, RU.households,
            CheckinRound.title, CheckinRound.state, CheckinRound.deadline,
            Building.number, Unit.number,
            _CUR.id, _CUR.households, _CUR.returned, _CUR.isolated, _CUR.abnormal,
            CheckinRound.scope_kind,
            _place_count(_RU_PLACE, building=True),
            _place_count(_R_PLACE, building=True, current=True),
            _place_count(_RU_PLACE, building=False),
            _place_count(_R_PLACE, building=False, current=True),
            select(Community.name).where(col(Community.id) == RU.community_id)
            .scalar_subquery(),
            _CUR.vacant, _CUR.away, _CUR.refused,
        )
        .select_from(RU)
        .join(CheckinRound, col(CheckinRound.id) == RU.round_id)
        .join(Unit, col(Unit.id) == RU.unit_id)
        # Through the unit, so SQLite can go building number -> unit -> round unit
        # by index instead of reading every unit of the open round.
        .join(Building, col(Building.id) == Unit.building_id)
        .outerjoin(
            _CUR,
            current_report(_CUR),
        )
    )
    if by_round:
        stmt = stmt.where(col(RU.round_id) == bindparam("round_id"))
    else:
        stmt = stmt.where(col(CheckinRound.state) == ROUND_OPEN)
    if by_number:
        stmt = stmt.where(
            col(Building.number) == bindparam("building"), col(Unit.number) == bindparam("unit")
        )
    else:
        stmt = stmt.where(col(RU.unit_id) == bindparam("unit_id"))
    return stmt.order_by(RU.round_id, RU.unit_id)


_CANDIDATES = {(r, n): _candidates_stmt(r, n) for r in (False, True) for n in (False, True)}
_UNSET_CURRENT = (
    update(CheckinReport)
    .where(col(CheckinReport.id) == bindparam("prev_id"))
    .values(is_current=False)
)
_INSERT_REPORT = insert(CheckinReport)


async def _led_units(session: AsyncSession, who: Standing) -> set[int]:
    units = set(who.unit_ids)
    if who.building_ids:
        rows = await session.exec(
            select(Unit.id).where(col(Unit.building_id).in_(who.building_ids))
        )
        units.update(rows.all())
    return units


def may_report(who: Standing, place: Place) -> bool:
    """Staff, or a 单元长/楼长 whose grant covers the unit (its place is known)."""
    return who.staff or who.leads(place)


GroupLoader = Callable[[], Awaitable[ChatGroup | None]]


async def _no_group() -> None:
    return None


async def submit_report(
    session: AsyncSession,
    *,
    who: Standing,
    report: Report,
    now: datetime,
    group: GroupLoader = _no_group,
) -> Submitted:
    """Record a report, or raise CheckinError before writing.

    ``group`` loads the binding of the chat the report came from; it is only
    needed to tell apart same-numbered units of different communities.
    """
    now = as_utc(now)
    params: dict[str, object] = {}
    if report.round_no is not None:
        params["round_id"] = report.round_no
    if report.unit is not None:
        params.update(building=report.unit.building, unit=report.unit.unit)
    else:
        led = await _led_units(session, who)
        if len(led) != 1:
            raise CheckinError("need_unit")
        params["unit_id"] = next(iter(led))
    stmt = _CANDIDATES[(report.round_no is not None, report.unit is not None)]
    found = [_Candidate.of(row) for row in await prepared.rows(session, stmt, params)]
    if found and report.round_no is not None and found[0].state != ROUND_OPEN:
        raise CheckinError("round_closed", round_id=report.round_no)
    if not found:
        await _explain_no_candidate(session, report)
    chosen = await _pick_unit(session, who, found, group)
    # Several open rounds cover the unit (a round opened twice by a flaky network,
    # a building round inside a community one): the narrowest takes the report and
    # the confirmation names it, rather than refusing the whole work group.
    cand = min(chosen, key=_Candidate.narrowness)
    if not may_report(who, cand.place):
        raise CheckinError("not_leader", unit=cand.label)
    counts = Counts.of(report)
    if counts.reached > cand.households:
        raise CheckinError(
            "over_count", unit=cand.label, registered=cand.households,
            reported=counts.households, counts=counts,
        )
    if cand.prev == counts and not report.note:
        # A resend (a flaky network, a second tap): nothing to correct, nothing written.
        return Submitted(
            round_id=cand.round_id, round_title=cand.title, unit_label=cand.label,
            counts=counts, note="", previous=cand.prev, late=False, place=cand.place,
            reporter_name=who.name or who.account, unchanged=True,
        )
    # Amendment: the previous report stays as history, no longer current. The
    # partial unique index needs the old row cleared before the new one lands.
    if cand.prev_id is not None:
        await prepared.write_later(session, _UNSET_CURRENT, {"prev_id": cand.prev_id})
    await prepared.write_later(
        session,
        _INSERT_REPORT,
        {
            "round_id": cand.round_id, "unit_id": cand.unit_id, "reporter": who.account,
            "building_id": cand.building_id, "community_id": cand.community_id,
            "households": counts.households, "returned": counts.returned,
            "isolated": counts.isolated, "abnormal": counts.abnormal,
            "vacant": counts.vacant, "away": counts.away, "refused": counts.refused,
            "note": report.note, "reported_at": now, "is_current": True,
        },
    )
    result = Submitted(
        round_id=cand.round_id, round_title=cand.title, unit_label=cand.label,
        counts=counts, note=report.note, previous=cand.prev,
        late=now > as_utc(cand.deadline), place=cand.place,
        reporter_name=who.name or who.account,
    )
    if cand.prev is None:  # a new report moves the tally its confirmation shows
        result.running = cand.running_after_report()
    prev = cand.prev
    new_abnormal = counts.abnormal > 0 and (prev is None or prev.abnormal != counts.abnormal)
    new_refusal = counts.refused > 0 and (prev is None or prev.refused != counts.refused)
    if new_abnormal or new_refusal:
        groups = await staff_groups(session)
        result.community = cand.community_name
    if new_abnormal:
        result.alert = True
        result.alert_groups = alert_targets(groups, cand.place)
    if new_refusal:  # a gap that needs staff: 数据统计排查组, else the work group
        result.refusal_groups = unique(
            team_groups(groups, STAFF_TEAM, cand.place) or closest_work_groups(groups, cand.place))
    return result


@dataclass
class MyRound:
    round_id: int
    title: str
    deadline: datetime
    reports: list[tuple[str, Counts]]  # (unit label, figures) the sender reported
    missing: list[str]  # units the sender leads that are still unreported


async def my_reports(session: AsyncSession, who: Standing) -> list[MyRound]:
    """``/我的打卡``: per open round, the sender's current reports and the units they
    lead (unit and building grants) still unreported."""
    rounds = (await session.exec(
        select(CheckinRound).where(col(CheckinRound.state) == ROUND_OPEN)
        .order_by(col(CheckinRound.id))
    )).all()
    led = await _led_units(session, who)
    out: list[MyRound] = []
    for rnd in rounds:
        rows = (await session.exec(
            select(RU.unit_id, Building.number, Unit.number, _CUR.reporter, _CUR.households,
                   _CUR.returned, _CUR.isolated, _CUR.abnormal, _CUR.vacant, _CUR.away,
                   _CUR.refused)
            .join(Unit, col(Unit.id) == RU.unit_id)
            .join(Building, col(Building.id) == Unit.building_id)
            .outerjoin(_CUR, and_(_CUR.round_id == RU.round_id, _CUR.unit_id == RU.unit_id,
                                  _CUR.is_current == true()))
            .where(col(RU.round_id) == rnd.id)
            .order_by(Building.number, Unit.number)
        )).all()
        mine = MyRound(rnd.id, rnd.title, rnd.deadline, [], [])
        for unit_id, b, u, reporter, *figures in rows:
            label = f"{b}栋{u}单元"
            if reporter == who.account:
                mine.reports.append((label, Counts(*figures)))
            elif reporter is None and unit_id in led:
                mine.missing.append(label)
        if mine.reports or mine.missing:
            out.append(mine)
    return out


@dataclass
class Withdrawn:
    round_id: int
    round_title: str
    unit_label: str
    counts: Counts
    restored: Counts | None  # the report before it, current again; None: unreported now


async def withdraw(
    session: AsyncSession, *, who: Standing, ask: Withdraw, now: datetime
) -> Withdrawn:
    """Take back the sender's own current report in an open round (the latest one,
    or the one ``ask`` names). The row stays as history; the report it had replaced,
    if any, is current again. Audited."""
    stmt = (
        select(CheckinReport, CheckinRound.title, Building.number, Unit.number)
        .join(CheckinRound, col(CheckinRound.id) == CheckinReport.round_id)
        .join(Unit, col(Unit.id) == CheckinReport.unit_id)
        .join(Building, col(Building.id) == Unit.building_id)
        .where(
            col(CheckinReport.reporter) == who.account, col(CheckinReport.is_current) == true(),
            col(CheckinRound.state) == ROUND_OPEN,
        )
        .order_by(col(CheckinReport.reported_at).desc(), col(CheckinReport.id).desc())
    )
    if ask.round_no is not None:
        stmt = stmt.where(col(CheckinReport.round_id) == ask.round_no)
    if ask.unit is not None:
        stmt = stmt.where(
            col(Building.number) == ask.unit.building, col(Unit.number) == ask.unit.unit
        )
    rows = (await session.exec(stmt)).all()
    if not rows:
        raise CheckinError("nothing_to_withdraw")
    if len(rows) > 1 and (ask.round_no is None or ask.unit is None):
        raise CheckinError("which_to_withdraw", choices=[
            (r.round_id, f"{b}栋{u}单元") for r, _, b, u in rows
        ])
    report, title, building_no, unit_no = rows[0]
    report.is_current = False
    await session.flush()  # the partial unique index: one current row per round and unit
    before = (await session.exec(
        select(CheckinReport)
        .where(
            col(CheckinReport.round_id) == report.round_id,
            col(CheckinReport.unit_id) == report.unit_id, col(CheckinReport.id) < report.id,
            # Never back to a report from before the unit was reopened (重排).
            col(CheckinReport.id) > await _reopened_after(session, report.round_id,
                                                          report.unit_id),
        )
        .order_by(col(CheckinReport.id).desc())
        .limit(1)
    )).first()
    if before is not None:
        before.is_current = True
    await audit(session, who.account, "checkin_withdraw",
                f"round={report.round_id} unit={report.unit_id} report={report.id}", at=now)
    counts = Counts.of(report)
    restored = Counts.of(before) if before is not None else None
    return Withdrawn(report.round_id, title, f"{building_no}栋{unit_no}单元", counts, restored)


async def _reopened_after(session: AsyncSession, round_id: int, unit_id: int) -> int:
    rows = await session.exec(
        select(func.coalesce(func.max(CheckinRescreen.after_report_id), 0)).where(
            col(CheckinRescreen.round_id) == round_id, col(CheckinRescreen.unit_id) == unit_id)
    )
    return int(rows.one())


@dataclass
class Rescreened:
    round: CheckinRound
    unit_ids: list[int]
    labels: list[str]
    had_reports: int  # of them, how many had a report that no longer counts
    adopted: int = 0  # of them, how many took the roster's new 户数


async def roster_drift(session: AsyncSession, round_id: int) -> int:
    """Units whose registered 户数 changed in the roster since the round opened (the
    round keeps its snapshot; /排查 重排 adopts the new figure)."""
    rows = await session.exec(
        select(func.count()).select_from(RU).join(Unit, col(Unit.id) == RU.unit_id)
        .where(col(RU.round_id) == round_id, col(RU.households) != Unit.households)
    )
    return int(rows.one())


async def rescreen(
    session: AsyncSession, rnd: CheckinRound, scopes: Sequence[Scope], *, actor: str,
    reason: str, now: datetime,
) -> Rescreened:
    """``/排查 重排``: reopen the round's units inside ``scopes``. Their reports stay
    in the history and stop counting, so coverage drops until they report again;
    reminders, /未报 and the deadline's escalation see them as unreported."""
    if rnd.state != ROUND_OPEN:
        raise CheckinError("round_closed", round_id=rnd.id)
    within = [
        true() if scope.kind == "all" else _ru_within(scope.kind, scope_id)
        for scope in scopes for scope_id in (scope.ids or (0,))
    ]
    rows = (await session.exec(
        select(RU.unit_id, Building.number, Unit.number, _CUR.id)
        .join(Unit, col(Unit.id) == RU.unit_id)
        .join(Building, col(Building.id) == Unit.building_id)
        .outerjoin(_CUR, and_(_CUR.round_id == RU.round_id, _CUR.unit_id == RU.unit_id,
                              _CUR.is_current == true()))
        .where(col(RU.round_id) == rnd.id, or_(*within))
        .order_by(Building.number, Unit.number)
    )).all()
    if not rows:
        raise CheckinError("nothing_to_rescreen", round_id=rnd.id,
                           scope="、".join(s.label for s in scopes))
    current = [cur for _, _, _, cur in rows if cur is not None]
    if current:
        await session.exec(update(CheckinReport).where(  # type: ignore[call-overload]
            col(CheckinReport.id).in_(current)).values(is_current=False))
    last = dict((await session.exec(
        select(CheckinReport.unit_id, func.max(CheckinReport.id))
        .where(col(CheckinReport.round_id) == rnd.id,
               col(CheckinReport.unit_id).in_([r[0] for r in rows]))
        .group_by(CheckinReport.unit_id)
    )).all())
    # The reopened units are screened against today's roster: a changed 户数 is adopted.
    unit_ids = [r[0] for r in rows]
    adopted = (await session.exec(update(RU).where(  # type: ignore[call-overload]
        col(RU.round_id) == rnd.id, col(RU.unit_id).in_(unit_ids),
        col(RU.households) != select(Unit.households).where(col(Unit.id) == RU.unit_id)
        .scalar_subquery(),
    ).values(households=select(Unit.households).where(col(Unit.id) == RU.unit_id)
             .scalar_subquery()))).rowcount
    for unit_id, *_ in rows:
        session.add(CheckinRescreen(
            round_id=rnd.id, unit_id=unit_id, after_report_id=last.get(unit_id, 0),
            at=as_utc(now), by=actor, reason=reason,
        ))
    await audit(session, actor, "checkin_rescreen",
                f"#{rnd.id} units={len(rows)} reports={len(current)}", at=now)
    return Rescreened(rnd, unit_ids, [f"{b}栋{u}单元" for _, b, u, _ in rows], len(current),
                      int(adopted or 0))


async def _pick_unit(
    session: AsyncSession, who: Standing, found: list[_Candidate], group: GroupLoader
) -> list[_Candidate]:
    """Narrow candidates to one unit: the chat's scope first, then the sender's units."""
    by_unit: dict[int, list[_Candidate]] = {}
    for c in found:
        by_unit.setdefault(c.unit_id, []).append(c)
    if len(by_unit) > 1:
        bound = await group()
        if bound is not None:
            inside = {
                uid: cs for uid, cs in by_unit.items()
                if cs[0].place.covers(bound.scope_kind, bound.scope_id)
            }
            by_unit = inside or by_unit
    if len(by_unit) > 1 and not who.staff:
        mine = {
            uid: cs for uid, cs in by_unit.items()
            if may_report(who, cs[0].place)
        }
        by_unit = mine or by_unit
    if len(by_unit) > 1:
        raise CheckinError("ambiguous_unit", unit=found[0].label)
    return next(iter(by_unit.values()))


async def _explain_no_candidate(session: AsyncSession, report: Report) -> None:
    """Only on the refusal path: say precisely why nothing matched."""
    if report.round_no is not None:
        rnd = await session.get(CheckinRound, report.round_no)
        if rnd is None:
            raise CheckinError("round_not_found", round_id=report.round_no)
        if rnd.state != ROUND_OPEN:
            raise CheckinError("round_closed", round_id=rnd.id)
    if report.unit is not None:
        exists_unit = (
            await session.exec(
                select(Unit.id)
                .join(Building, col(Building.id) == Unit.building_id)
                .where(Building.number == report.unit.building, Unit.number == report.unit.unit)
                .limit(1)
            )
        ).first()
        if exists_unit is None:
            raise CheckinError("unknown_unit", unit=str(report.unit))
        if report.round_no is not None:
            raise CheckinError("unit_not_in_round", unit=str(report.unit), round_id=report.round_no)
        raise CheckinError("no_open_round", unit=str(report.unit))
    raise CheckinError("no_open_round", unit="")


# --- finding rounds --------------------------------------------------------------------------


def _about(group: ChatGroup | None):
    """Rounds this chat is about: those with a unit inside the group's scope."""
    stmt = select(CheckinRound)
    if group is not None and group.scope_kind != "all":
        stmt = stmt.where(
            exists().where(
                RU.round_id == CheckinRound.id, _ru_within(group.scope_kind, group.scope_id)
            )
        )
    return stmt


async def open_rounds(session: AsyncSession, group: ChatGroup | None) -> list[CheckinRound]:
    """The open rounds this chat is about, oldest first."""
    stmt = _about(group).where(CheckinRound.state == ROUND_OPEN).order_by(col(CheckinRound.id))
    return list((await session.exec(stmt)).all())


async def find_round(
    session: AsyncSession,
    number: int | None,
    group: ChatGroup | None,
    *,
    open_only: bool,
    pick: bool = False,
) -> CheckinRound:
    """``#N`` if given; else the one open round this chat is about.

    With several open rounds, ``pick`` takes the narrowest, nearest-deadline one
    (the round /打卡 without #N reports to; the reply names it); without ``pick``
    (``/结束``, which cannot be undone) the sender must say which. With no open
    round, read-only commands (``open_only=False``) fall back to the latest
    round: ``/结束`` then ``/导出`` is the usual order.
    """
    if number is not None:
        rnd = await session.get(CheckinRound, number)
        if rnd is None:
            raise CheckinError("round_not_found", round_id=number)
        if open_only and rnd.state != ROUND_OPEN:
            raise CheckinError("round_closed", round_id=number)
        return rnd
    stmt = _about(group)
    rows = await open_rounds(session, group)
    if len(rows) == 1:
        return rows[0]
    if len(rows) > 1 and pick:
        return min(rows, key=lambda r: round_rank(r.scope_kind, r.deadline, r.id or 0))
    if len(rows) > 1:
        raise CheckinError("ambiguous_round", unit="", rounds=[r.id for r in rows])
    if not open_only:
        latest = (await session.exec(stmt.order_by(col(CheckinRound.id).desc()).limit(1))).first()
        if latest is not None:
            return latest
    raise CheckinError("no_open_round", unit="")


async def twin_of(
    session: AsyncSession, title: str, scope: Scope, now: datetime, window: timedelta,
) -> CheckinRound | None:
    """An open round with this title and scope opened within ``window``: the same
    /排查 发起 sent twice (a flaky network) is asked about before it opens again."""
    stmt = select(CheckinRound).where(
        CheckinRound.state == ROUND_OPEN, CheckinRound.title == title,
        CheckinRound.scope_kind == scope.kind,
        CheckinRound.scope_ids == ",".join(str(i) for i in scope.ids),
        col(CheckinRound.opened_at) > as_utc(now) - window,
    ).order_by(col(CheckinRound.id).desc()).limit(1)
    return (await session.exec(stmt)).first()


async def close_round(
    session: AsyncSession, rnd: CheckinRound, *, actor: str, now: datetime
) -> list[ScheduledItem]:
    if rnd.state != ROUND_OPEN:
        raise CheckinError("round_closed", round_id=rnd.id)
    rnd.state, rnd.closed_at, rnd.closed_by = ROUND_CLOSED, as_utc(now), actor
    session.add(rnd)
    cancelled = await cancel_items(session, ROUND_KINDS, rnd.id)  # type: ignore[arg-type]
    await audit(session, actor, "close_round", f"#{rnd.id}", at=now, subject=("round", rnd.id))
    return cancelled


# --- who is late -----------------------------------------------------------------------------


@dataclass
class MissingUnit:
    place: Place
    building: int
    unit: int
    community: str
    grid: str
    households: int
    leaders: list[Leader]

    @property
    def label(self) -> str:
        return f"{self.building}栋{self.unit}单元"

    def mentions(self, platform: str) -> list[Mention]:
        return mentions_of(self.leaders, platform)


async def missing_units(session: AsyncSession, round_id: int, now: datetime) -> list[MissingUnit]:
    """Units of the round without a current report, with their leaders, in roster order."""
    rows = (
        await session.exec(
            select(RU, Building.number, Unit.number, Community.name, Grid.name)
            .join(Unit, col(Unit.id) == RU.unit_id)
            .join(Building, col(Building.id) == RU.building_id)
            .join(Community, col(Community.id) == RU.community_id)
            .join(Grid, col(Grid.id) == RU.grid_id)
            .outerjoin(
                _CUR,
                current_report(_CUR),
            )
            .where(RU.round_id == round_id, _CUR.id.is_(None))
            .order_by(Community.name, Building.number, Unit.number)
        )
    ).all()
    by_unit, by_building = await leaders_of(
        session,
        [ru.unit_id for ru, *_ in rows],
        sorted({ru.building_id for ru, *_ in rows}),
        as_utc(now),
    )
    out = []
    for ru, b_no, u_no, community, grid in rows:
        leaders = by_unit.get(ru.unit_id, []) + by_building.get(ru.building_id, [])
        out.append(
            MissingUnit(Place.of(ru), b_no, u_no, community, grid, ru.households, leaders)
        )
    return out


def mention_batches(
    units: Sequence[MissingUnit], platform: str, limit: int = MAX_MENTIONS_PER_MESSAGE
) -> list[tuple[list[MissingUnit], list[Mention]]]:
    """Messages of at most ``limit`` distinct @-mentions; one empty batch when
    nothing is missing (the "all reported" message still goes out)."""
    batches = batch_by_mentions(((u, u.mentions(platform)) for u in units), limit)
    return batches or [([], [])]


async def round_places(session: AsyncSession, round_id: int) -> list[Place]:
    rows = await session.exec(
        select(RU.unit_id, RU.building_id, RU.grid_id, RU.community_id).where(
            RU.round_id == round_id
        )
    )
    return [Place(*r) for r in rows.all()]


# --- export ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportRow:
    community: str
    grid: str
    building: int
    unit: int
    registered: int
    households: int
    returned: int
    isolated: int
    abnormal: int
    note: str
    reporter_name: str
    reporter: str
    reported_at: datetime
    submissions: int
    vacant: int = 0
    away: int = 0
    refused: int = 0


async def current_reports(session: AsyncSession, round_id: int) -> list[ReportRow]:
    history = (
        select(CheckinReport.unit_id, func.count().label("n"))
        .where(CheckinReport.round_id == round_id)
        .group_by(CheckinReport.unit_id)
        .subquery()
    )
    rows = (
        await session.exec(
            select(
                Community.name, Grid.name, Building.number, Unit.number, RU.households,
                CheckinReport, Person.name, history.c.n,
            )
            .select_from(CheckinReport)
            .join(
                RU,
                and_(
                    col(RU.round_id) == CheckinReport.round_id,
                    col(RU.unit_id) == CheckinReport.unit_id,
                ),
            )
            .join(Unit, col(Unit.id) == RU.unit_id)
            .join(Building, col(Building.id) == RU.building_id)
            .join(Grid, col(Grid.id) == RU.grid_id)
            .join(Community, col(Community.id) == RU.community_id)
            .join(history, history.c.unit_id == CheckinReport.unit_id)
            .outerjoin(Account, col(Account.id) == CheckinReport.reporter)
            .outerjoin(Person, col(Person.id) == Account.person_id)
            .where(CheckinReport.round_id == round_id, col(CheckinReport.is_current) == true())
            .order_by(Community.name, Building.number, Unit.number)
        )
    ).all()
    return [
        ReportRow(
            c, g, b, u, reg, r.households, r.returned, r.isolated, r.abnormal, r.note,
            name or "", r.reporter, r.reported_at, int(n), r.vacant, r.away, r.refused,
        )
        for c, g, b, u, reg, r, name, n in rows
    ]


# --- recurring rounds -------------------------------------------------------------------------


def local_at(day, minute: int) -> datetime:
    """``minute`` after local midnight of ``day`` (1440 = next midnight), as aware UTC."""
    moment = datetime.combine(day, time(0), tzinfo=SHANGHAI) + timedelta(minutes=minute)
    return moment.astimezone(UTC)


def next_open(defn: RecurringRound, after: datetime) -> datetime:
    """The first opening strictly after ``after``."""
    day = as_utc(after).astimezone(SHANGHAI).date()
    for offset in range(3):
        moment = local_at(day + timedelta(days=offset), defn.open_minute)
        if moment > as_utc(after):
            return moment
    raise AssertionError("unreachable: an opening exists within two days")


async def create_daily(
    session: AsyncSession,
    *,
    actor: str,
    title: str,
    scope: Scope,
    open_minute: int,
    close_minute: int,
    now: datetime,
) -> tuple[RecurringRound, ScheduledItem]:
    defn = RecurringRound(
        title=title, scope_kind=scope.kind, scope_ids=",".join(str(i) for i in scope.ids),
        scope_label=scope.label, open_minute=open_minute, close_minute=close_minute,
        created_by=actor, created_at=as_utc(now),
    )
    session.add(defn)
    await session.flush()
    units = (
        await session.exec(
            select(func.count()).select_from(
                _unit_source(0, scope.kind, scope.ids).subquery()
            )
        )
    ).one()
    if not units:
        raise CheckinError("empty_scope", scope=scope.label)
    assert defn.id is not None
    item = await add_item(session, KIND_DAILY, defn.id, next_open(defn, now))
    await audit(
        session, actor, "create_daily_round",
        f"{defn.id} scope={scope.label} {open_minute}-{close_minute}",
        subject=("daily_round", defn.id),
    )
    return defn, item


async def stop_daily(
    session: AsyncSession, number: int, *, actor: str
) -> tuple[RecurringRound, list[ScheduledItem]]:
    defn = await session.get(RecurringRound, number)
    if defn is None or not defn.active:
        raise CheckinError("daily_not_found", number=number)
    defn.active = False
    session.add(defn)
    cancelled = await cancel_items(session, (KIND_DAILY,), number)
    await audit(session, actor, "stop_daily_round", f"{number}", subject=("daily_round", number))
    return defn, cancelled
