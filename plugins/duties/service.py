"""Recurring duties (任务: 消杀, 演练): definitions, occurrences, check-ins, laggards.

A ``Duty`` says what, when (every day, a weekday, a day of the month, at
HH:MM) and where (a resolved scope). The scheduler keeps exactly one pending
``duty.occur`` item per active duty; when it fires, an occurrence is created
with the units of the scope snapshotted, announced in the work groups closest
to them, the next ``duty.occur`` is queued, and one ``duty.chase`` item is
queued for the same day: the leaders of units still not done then are
@-mentioned once, like check-in laggards.

Plain async functions over a session; each raises ``DutyError`` /
``ScopeError`` before it has written anything, or returns what it did.
"""

from __future__ import annotations

import calendar
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.delivery import batch_by_mentions
from bot.kit import CommandError
from bot.platforms import Mention, mentions_of
from bot.scheduler import add_item, as_utc, cancel_items
from bot.settings import Settings
from ground.quiet import in_quiet_hours
from ground.timeutil import SHANGHAI, local
from plugins.duties.syntax import MONTHLY, WEEKLY, DutyArgs, describe
from storage import places
from storage.models import ChatGroup, ScheduledItem
from storage.models_checkin import ITEM_PENDING
from storage.models_events import Duty, DutyOccurrence, DutyUnit
from storage.places import LabelledPlace, Leader, Standing
from storage.repo import Scope, audit, units_in

log = logging.getLogger("gridbot.duties")

KIND_OCCUR = "duty.occur"
KIND_CHASE = "duty.chase"
LIST_LIMIT = 30
ANNOUNCE_BUILDINGS = 40  # an announcement lists at most this many buildings


class DutyError(CommandError):
    template = "duties/error"


def chase_hours(settings: Settings) -> float:
    return settings.duty_chase_hours


def hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


# --- when ------------------------------------------------------------------------------------


def _at(day: date, minute: int) -> datetime:
    return as_utc(datetime.combine(day, time(minute // 60, minute % 60), tzinfo=SHANGHAI))


def _day_in_month(year: int, month: int, day: int) -> date:
    # 每月31日 falls on the last day of shorter months rather than skipping them.
    return date(year, month, min(day, calendar.monthrange(year, month)[1]))


def next_start(schedule: str, arg: int, minute: int, after: datetime) -> datetime:
    """The first occurrence strictly after ``after`` (aware UTC; Asia/Shanghai has no DST)."""
    after = as_utc(after)
    today = local(after).date()
    if schedule == WEEKLY:
        first = today + timedelta(days=(arg - today.weekday()) % 7)
        at = _at(first, minute)
        return at if at > after else _at(first + timedelta(days=7), minute)
    if schedule == MONTHLY:
        year, month = today.year, today.month
        while True:
            at = _at(_day_in_month(year, month, arg), minute)
            if at > after:
                return at
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    at = _at(today, minute)
    return at if at > after else _at(today + timedelta(days=1), minute)


def duty_next(duty: Duty, after: datetime) -> datetime:
    return next_start(duty.schedule, duty.schedule_arg, duty.minute, after)


def chase_due(starts_at: datetime, hours: float) -> datetime:
    """``hours`` after the start, but within the same local day (laggards are
    reminded the day the duty falls on)."""
    start = as_utc(starts_at)
    last_minute = _at(local(start).date() + timedelta(days=1), 0) - timedelta(minutes=1)
    return max(start, min(start + timedelta(hours=hours), last_minute))


# --- views -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DutyView:
    id: int
    name: str
    when: str  # 每周一 09:00
    scope_label: str
    active: bool
    next_at: datetime | None = None
    done: int = 0  # of the latest occurrence
    total: int = 0
    last_at: datetime | None = None


def duty_view(duty: Duty, **extra) -> DutyView:
    assert duty.id is not None
    return DutyView(
        duty.id, duty.name, f"{describe(duty.schedule, duty.schedule_arg)} {hhmm(duty.minute)}",
        duty.scope_label, duty.active, **extra,
    )


def scope_of(duty: Duty) -> Scope:
    ids = tuple(int(x) for x in duty.scope_ids.split(",") if x)
    return Scope(duty.scope_kind, ids, duty.scope_label)


# --- defining --------------------------------------------------------------------------------


@dataclass
class Created:
    duty: DutyView
    item: ScheduledItem
    units: int


async def create(
    session: AsyncSession, *, actor: str, args: DutyArgs, scope: Scope, now: datetime, quiet: str
) -> Created:
    if in_quiet_hours(args.minute, quiet):
        raise DutyError("quiet", time=hhmm(args.minute), quiet=quiet)
    units = await units_in(session, scope)
    if not units:
        raise DutyError("no_units", scope=scope.label)
    duty = Duty(
        name=args.name, schedule=args.schedule.kind, schedule_arg=args.schedule.arg,
        minute=args.minute, scope_kind=scope.kind, scope_ids=",".join(map(str, scope.ids)),
        scope_label=scope.label, created_by=actor, created_at=now,
    )
    session.add(duty)
    await session.flush()
    assert duty.id is not None
    item = await add_item(session, KIND_OCCUR, duty.id, duty_next(duty, now))
    await audit(session, actor, "duty_create", f"#{duty.id} {duty.schedule}/{duty.schedule_arg} "
                f"{hhmm(duty.minute)}")
    return Created(duty_view(duty, next_at=item.due_at), item, len(units))


async def _latest(session: AsyncSession, duty_id: int, now: datetime) -> DutyOccurrence | None:
    return (
        await session.exec(
            select(DutyOccurrence)
            .where(DutyOccurrence.duty_id == duty_id, DutyOccurrence.starts_at <= as_utc(now))
            .order_by(col(DutyOccurrence.starts_at).desc())
        )
    ).first()


async def _progress(session: AsyncSession, occ_id: int) -> tuple[int, int]:
    rows = (await session.exec(select(DutyUnit.done_at).where(DutyUnit.occurrence_id == occ_id)))
    done_at = rows.all()
    return sum(1 for d in done_at if d is not None), len(done_at)


async def _pending_occur(session: AsyncSession, duty_id: int) -> ScheduledItem | None:
    return (
        await session.exec(
            select(ScheduledItem).where(
                ScheduledItem.kind == KIND_OCCUR, ScheduledItem.ref_id == duty_id,
                ScheduledItem.state == ITEM_PENDING,
            )
        )
    ).first()


async def list_duties(session: AsyncSession, now: datetime) -> tuple[list[DutyView], int]:
    rows = (await session.exec(select(Duty).where(Duty.active == True).order_by(Duty.id))).all()  # noqa: E712
    out = []
    for duty in rows[:LIST_LIMIT]:
        assert duty.id is not None
        pending = await _pending_occur(session, duty.id)
        latest = await _latest(session, duty.id, now)
        done, total = await _progress(session, latest.id) if latest else (0, 0)  # type: ignore[arg-type]
        out.append(duty_view(
            duty, next_at=pending.due_at if pending else duty_next(duty, now), done=done,
            total=total, last_at=latest.starts_at if latest else None,
        ))
    return out, len(rows)


async def stop(
    session: AsyncSession, *, actor: str, number: int, now: datetime
) -> tuple[DutyView, list[ScheduledItem]]:
    duty = await session.get(Duty, number)
    if duty is None or not duty.active:
        raise DutyError("not_found", number=number)
    duty.active = False
    duty.stopped_at = now
    duty.stopped_by = actor
    session.add(duty)
    cancelled = await cancel_items(session, (KIND_OCCUR,), number)
    occurrences = (
        await session.exec(select(DutyOccurrence.id).where(DutyOccurrence.duty_id == number))
    ).all()
    for occ_id in occurrences:
        cancelled += await cancel_items(session, (KIND_CHASE,), occ_id)
    await audit(session, actor, "duty_stop", f"#{number}")
    return duty_view(duty), cancelled


# --- occurrences -----------------------------------------------------------------------------


@dataclass
class Opened:
    duty: DutyView
    occurrence: DutyOccurrence
    places: list[LabelledPlace]
    chase: ScheduledItem | None

    @property
    def buildings(self) -> list[str]:
        """``1栋1、2单元`` per building, in roster order (community-prefixed when
        the duty spans several)."""
        several = len({p.community_id for p in self.places}) > 1
        by_building: dict[tuple[str, int], list[int]] = {}
        for p in self.places:
            by_building.setdefault((p.community, p.building_no), []).append(p.unit_no)
        return [
            f"{community + '/' if several else ''}{b}栋" + "、".join(map(str, units)) + "单元"
            for (community, b), units in by_building.items()
        ]


async def open_occurrence(
    session: AsyncSession, duty: Duty, starts_at: datetime, now: datetime, hours: float
) -> Opened | None:
    assert duty.id is not None
    starts_at = as_utc(starts_at)
    existing = (
        await session.exec(
            select(DutyOccurrence.id).where(
                DutyOccurrence.duty_id == duty.id, DutyOccurrence.starts_at == starts_at
            )
        )
    ).first()
    if existing is not None:
        return None
    units = await units_in(session, scope_of(duty))
    if not units:
        log.warning("duty #%s: its scope has no units any more", duty.id)
        return None
    occ = DutyOccurrence(
        duty_id=duty.id, starts_at=starts_at, chase_at=chase_due(starts_at, hours), created_at=now
    )
    session.add(occ)
    await session.flush()
    assert occ.id is not None
    for b, u in units:
        session.add(DutyUnit(
            occurrence_id=occ.id, unit_id=u.id, building_id=b.id,  # type: ignore[arg-type]
            grid_id=b.grid_id, community_id=b.community_id,
        ))
    await session.flush()
    chase = None
    if as_utc(occ.chase_at) > as_utc(now):
        chase = await add_item(session, KIND_CHASE, occ.id, occ.chase_at)
    where = await places.places_of(session, [u.id for _, u in units])  # type: ignore[misc]
    ordered = [where[u.id] for _, u in units if u.id in where]
    return Opened(duty_view(duty), occ, ordered, chase)


def closest_groups(groups: Sequence[ChatGroup], units: Sequence[LabelledPlace]) -> list[ChatGroup]:
    """The union of each unit's closest work groups, in binding order."""
    chosen: dict[int, ChatGroup] = {}
    for p in units:
        for g in places.closest_work_groups(groups, p):
            chosen.setdefault(g.id, g)  # type: ignore[arg-type]
    return sorted(chosen.values(), key=lambda g: g.id or 0)


async def announce_targets(session: AsyncSession, opened: Opened) -> list[ChatGroup]:
    targets = closest_groups(await places.staff_groups(session), opened.places)
    if not targets:
        log.warning("duty #%s: no work group covers its units", opened.duty.id)
    return targets


# --- check-ins -------------------------------------------------------------------------------


@dataclass
class Done:
    duty: DutyView
    occurrence: DutyOccurrence
    marked: list[str]  # unit labels marked now
    done: int
    total: int


async def _occurrence_units(
    session: AsyncSession, occ_id: int
) -> list[tuple[DutyUnit, LabelledPlace]]:
    rows = (
        await session.exec(select(DutyUnit).where(DutyUnit.occurrence_id == occ_id))
    ).all()
    where = await places.places_of(session, [r.unit_id for r in rows])
    pairs = [(r, where[r.unit_id]) for r in rows if r.unit_id in where]
    return sorted(pairs, key=lambda rp: (rp[1].community, rp[1].building_no, rp[1].unit_no))


async def mark_done(
    session: AsyncSession,
    *,
    who: Standing,
    number: int,
    unit: LabelledPlace | None,
    now: datetime,
) -> Done:
    duty = await session.get(Duty, number)
    if duty is None:
        raise DutyError("not_found", number=number)
    occ = await _latest(session, number, now)
    if occ is None:
        pending = await _pending_occur(session, number)
        raise DutyError("not_started", number=number, next_at=pending.due_at if pending else None)
    assert occ.id is not None
    rows = await _occurrence_units(session, occ.id)
    if unit is not None:
        mine = [(r, p) for r, p in rows if p.unit_id == unit.unit_id]
        if not mine:
            raise DutyError("not_in_scope", number=number, unit=unit.label)
        if not who.may_handle(unit):
            raise DutyError("not_yours", unit=unit.label)
    else:
        mine = [(r, p) for r, p in rows if who.leads(p)]
        if not mine:
            raise DutyError("need_unit" if who.staff else "none_led", number=number)
    todo = [(r, p) for r, p in mine if r.done_at is None]
    if not todo:
        raise DutyError("already_done", number=number,
                        units=[p.label for _, p in mine][:10], count=len(mine))
    for r, _ in todo:
        r.done_at = now
        r.done_by = who.account
        session.add(r)
    await session.flush()
    await audit(session, who.account, "duty_done",
                f"#{number} occurrence={occ.id} units={','.join(str(p.unit_id) for _, p in todo)}")
    done, total = await _progress(session, occ.id)
    return Done(duty_view(duty), occ, [p.label for _, p in todo], done, total)


# --- laggards --------------------------------------------------------------------------------


@dataclass
class LagUnit:
    label: str
    leaders: list[Leader]


@dataclass
class ChasePush:
    group: ChatGroup
    units: list[LagUnit]
    mentions: list[Mention]
    part: int = 1
    parts: int = 1


@dataclass
class Chase:
    duty: DutyView | None
    occurrence: DutyOccurrence | None
    pushes: list[ChasePush] = field(default_factory=list)
    laggards: int = 0
    total: int = 0


async def chase(session: AsyncSession, occ_id: int, now: datetime) -> Chase:
    """The laggards of an occurrence, grouped by the work group closest to each."""
    occ = await session.get(DutyOccurrence, occ_id)
    duty = await session.get(Duty, occ.duty_id) if occ is not None else None
    if occ is None or duty is None or not duty.active:
        return Chase(None, None)
    rows = await _occurrence_units(session, occ_id)
    late = [p for r, p in rows if r.done_at is None]
    result = Chase(duty_view(duty), occ, laggards=len(late), total=len(rows))
    if not late:
        return result
    leaders = await places.leaders_by_unit(session, late, now)
    groups = await places.staff_groups(session)
    per_group: dict[int, tuple[ChatGroup, list[LabelledPlace]]] = {}
    for p in late:
        targets = places.closest_work_groups(groups, p)
        if not targets:
            log.warning("duty #%s: unit %s has no work group for its reminder", duty.id, p.unit_id)
        for g in targets:
            per_group.setdefault(g.id, (g, []))[1].append(p)  # type: ignore[arg-type]
    for group, units in per_group.values():
        entries = []
        for p in units:
            lds = leaders.get(p.unit_id, [])
            mentions = mentions_of(lds, group.platform)
            entries.append((LagUnit(p.label, lds), mentions))
        batches = batch_by_mentions(entries)
        for i, (batch_units, mentions) in enumerate(batches, start=1):
            result.pushes.append(ChasePush(group, batch_units, mentions, i, len(batches)))
    return result


# --- start -----------------------------------------------------------------------------------


async def ensure_items(session: AsyncSession, now: datetime) -> list[ScheduledItem]:
    """Every active duty has its next occurrence queued (one may be missing after
    a crash mid-run or an outage longer than the scheduler's grace)."""
    added = []
    duties = (await session.exec(select(Duty).where(Duty.active == True))).all()  # noqa: E712
    for duty in duties:
        assert duty.id is not None
        if await _pending_occur(session, duty.id) is not None:
            continue
        item = await add_item(session, KIND_OCCUR, duty.id, duty_next(duty, now))
        # The same occurrence may exist but be settled (missed while a crash left
        # it claimed): it is still ahead of us, so queue it again.
        item.state = ITEM_PENDING
        session.add(item)
        added.append(item)
    return added
