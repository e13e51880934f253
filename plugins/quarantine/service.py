"""Home quarantine (居家隔离): entries, daily health-check reminders, health records.

Plain async functions over a session. Each either changes the database and
returns what it did, or raises ``QuarantineError`` / ``ScopeError`` before it
has written anything (callers run them in ``db.write()``, which rolls back).

Privacy (DESIGN.md §4): what templates receive is an ``EntryView`` that holds
the masked name only, so no template can print the full one; the room is in
the view because the private replies and reminders show it, and the one
message that goes to a group (the 四人一专班 alert) is rendered from a
template that does not print it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.kit import CommandError
from bot.scheduler import add_item, as_utc, cancel_items
from bot.settings import Settings
from ground.timeutil import SHANGHAI, local
from messages.mask import mask_name, scrub
from plugins.quarantine.syntax import Register, fmt_temp
from storage import places
from storage.models import ChatGroup, ScheduledItem
from storage.models_events import (
    QUARANTINE_ACTIVE,
    QUARANTINE_RELEASED,
    HealthCheck,
    Quarantine,
)
from storage.places import LabelledPlace, Standing
from storage.repo import audit

log = logging.getLogger("gridbot.quarantine")

KIND_CHECK = "quarantine.check"
KIND_END = "quarantine.end"
KINDS = (KIND_CHECK, KIND_END)
ALERT_TEAM = "四人一专班"
MIN_DAYS, MAX_DAYS = 1, 60
# A start date may be typed a little late, or planned ahead, but not arbitrarily.
MAX_START_AHEAD_DAYS = 30
LIST_LIMIT = 50

# Defaults of the settings this plugin reads (bot.settings may define them).


class QuarantineError(CommandError):
    template = "quarantine/error"


# --- settings --------------------------------------------------------------------------------


def check_minute(settings: Settings) -> int:
    """Minutes after local midnight of the daily health-check reminder."""
    hours, minutes = settings.quarantine_check_time.split(":")
    return int(hours) * 60 + int(minutes)


def fever_centi(settings: Settings) -> int:
    """The fever threshold in hundredths of a degree (37.3 -> 3730)."""
    return round(settings.fever_threshold * 100)


def local_at(day: date, minute: int) -> datetime:
    return as_utc(datetime.combine(day, time(minute // 60, minute % 60), tzinfo=SHANGHAI))


def mmdd(day: date) -> str:
    return f"{day.month:02d}-{day.day:02d}"


# --- views -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EntryView:
    """What templates may see of an entry: the name only masked."""

    id: int
    unit: str  # 3栋2单元
    place: str  # 幸福社区/3栋2单元
    room: str
    who: str  # masked name, or "" when none was given
    start: str  # 11-30
    end: str  # 12-14 (the day the quarantine is over)
    days: int
    state: str
    day_no: int  # day of the quarantine today (1..days), 0 before it starts
    ended: bool  # the end date has come
    last_temp: str = ""
    last_at: datetime | None = None
    checked_today: bool = False
    same_temp_days: int = 0  # 需核实: the same temperature this many days running (0: no)


def view(
    q: Quarantine, place: LabelledPlace, today: date, last: HealthCheck | None = None,
    checked_today: bool = False,
) -> EntryView:
    assert q.id is not None
    day_no = (today - q.start_date).days + 1
    return EntryView(
        id=q.id, unit=place.label, place=place.full_label, room=q.room,
        who=mask_name(q.name), start=mmdd(q.start_date), end=mmdd(q.end_date), days=q.days,
        state=q.state, day_no=max(0, min(day_no, q.days)), ended=today >= q.end_date,
        last_temp=fmt_temp(last.temp_centi) if last else "",
        last_at=last.reported_at if last else None, checked_today=checked_today,
    )


# --- registering -----------------------------------------------------------------------------


@dataclass
class Registered:
    entry: EntryView
    items: list[ScheduledItem]
    reminders_to: int  # how many leaders get the reminders
    first_reminder: datetime | None


def plan_items(q: Quarantine, minute: int, now: datetime) -> list[tuple[str, datetime]]:
    """The reminders of an entry still ahead of ``now``: one health check per
    quarantine day, and the end date."""
    now = as_utc(now)
    due = [(KIND_CHECK, local_at(q.start_date + timedelta(days=d), minute)) for d in range(q.days)]
    due.append((KIND_END, local_at(q.end_date, minute)))
    return [(kind, at) for kind, at in due if at > now]


async def register(
    session: AsyncSession,
    *,
    who: Standing,
    args: Register,
    now: datetime,
    minute: int,
) -> Registered:
    place = await places.resolve_unit(session, args.unit)
    if not who.may_handle(place):
        raise QuarantineError("not_yours", unit=place.label)
    if not MIN_DAYS <= args.days <= MAX_DAYS:
        raise QuarantineError("days", days=args.days, low=MIN_DAYS, high=MAX_DAYS)
    today = local(now).date()
    end = args.start + timedelta(days=args.days)
    if end <= today:
        raise QuarantineError("already_over", end=mmdd(end))
    if args.start > today + timedelta(days=MAX_START_AHEAD_DAYS):
        raise QuarantineError("too_far", limit=MAX_START_AHEAD_DAYS)
    q = Quarantine(
        unit_id=place.unit_id, room=args.room, name=args.name, start_date=args.start,
        days=args.days, end_date=end, created_by=who.account, created_at=now,
    )
    session.add(q)
    await session.flush()
    assert q.id is not None
    items = [await add_item(session, kind, q.id, at) for kind, at in plan_items(q, minute, now)]
    leaders = await places.responsible_leaders(session, place, now)
    # Ids only: the audit log carries no personal data.
    await audit(session, who.account, "quarantine_register",
                f"#{q.id} unit={place.unit_id} days={q.days}")
    return Registered(
        view(q, place, today), items, len(leaders),
        min((i.due_at for i in items if i.kind == KIND_CHECK), default=None),
    )


# --- finding, listing, releasing -------------------------------------------------------------


async def entry_for(
    session: AsyncSession, who: Standing, number: int
) -> tuple[Quarantine, LabelledPlace]:
    """The entry with this 编号, if the sender may see it (others get "not found":
    an entry's existence in another unit is nobody else's business)."""
    q = await session.get(Quarantine, number)
    place = await places.place_of(session, q.unit_id) if q is not None else None
    if q is None or place is None or not who.may_handle(place):
        raise QuarantineError("not_found", number=number)
    return q, place


async def recent_checks(
    session: AsyncSession, quarantine_id: int, limit: int,
) -> list[HealthCheck]:
    """The entry's latest checks, newest first."""
    return list((await session.exec(
        select(HealthCheck)
        .where(HealthCheck.quarantine_id == quarantine_id)
        .order_by(col(HealthCheck.reported_at).desc(), col(HealthCheck.id).desc())
        .limit(limit)
    )).all())


@dataclass
class Listing:
    entries: list[EntryView]
    total: int


# Several checks a day are allowed; this many a day are read for the rule below.
_CHECKS_A_DAY = 6


def same_temperature_days(checks: list[HealthCheck], days: int, today: date) -> int:
    """需核实 rule ``same_temperature`` over the newest checks: ``days`` when each of the
    last ``days`` days up to today (or yesterday) has a check and every day's last
    reading is the same temperature, else 0. Never acted on: the list shows it."""
    last_of_day: dict[date, int] = {}
    for check in checks:
        last_of_day.setdefault(local(check.reported_at).date(), check.temp_centi)
    end = today if today in last_of_day else today - timedelta(days=1)
    run = [last_of_day.get(end - timedelta(days=i)) for i in range(days)]
    return days if None not in run and len(set(run)) == 1 else 0


async def list_entries(
    session: AsyncSession, who: Standing, now: datetime, same_temp_days: int = 5,
) -> Listing:
    """Active entries the sender is responsible for (staff: all), oldest first."""
    rows = (
        await session.exec(
            select(Quarantine)
            .where(Quarantine.state == QUARANTINE_ACTIVE)
            .order_by(Quarantine.end_date, Quarantine.id)
        )
    ).all()
    where = await places.places_of(session, sorted({q.unit_id for q in rows}))
    today = local(now).date()
    mine = [(q, where[q.unit_id]) for q in rows if q.unit_id in where
            and who.may_handle(where[q.unit_id])]
    out = []
    for q, place in mine[:LIST_LIMIT]:
        # One read serves the latest reading and the same-temperature rule.
        checks = await recent_checks(session, q.id, same_temp_days * _CHECKS_A_DAY)  # type: ignore[arg-type]
        last = checks[0] if checks else None
        checked = last is not None and local(last.reported_at).date() == today
        entry = view(q, place, today, last, checked)
        same = same_temperature_days(checks, same_temp_days, today)
        out.append(replace(entry, same_temp_days=same) if same else entry)
    return Listing(out, len(mine))


@dataclass
class Released:
    entry: EntryView
    cancelled: list[ScheduledItem]


async def release(
    session: AsyncSession, *, who: Standing, number: int, now: datetime
) -> Released:
    q, place = await entry_for(session, who, number)
    if q.state != QUARANTINE_ACTIVE:
        raise QuarantineError("released", number=number)
    q.state = QUARANTINE_RELEASED
    q.released_at = now
    q.released_by = who.account
    session.add(q)
    cancelled = await cancel_items(session, KINDS, number)
    await audit(session, who.account, "quarantine_release", f"#{number}")
    return Released(view(q, place, local(now).date()), cancelled)


# --- health checks ---------------------------------------------------------------------------


@dataclass
class Checked:
    entry: EntryView
    temp: str  # 37.5
    symptoms: str
    fever: bool
    threshold: str  # 37.3
    alert_groups: list[ChatGroup] = field(default_factory=list)
    alert_accounts: list[str] = field(default_factory=list)  # when no group is bound

    @property
    def abnormal(self) -> bool:
        return self.fever or bool(self.symptoms)

    @property
    def alerted(self) -> bool:
        return bool(self.alert_groups or self.alert_accounts)


def clean_symptoms(text: str, name: str, room: str = "") -> str:
    """Free text goes to a team group when abnormal: mask the person's own name
    and room, and phone and ID numbers, should someone type them there."""
    if name:
        text = text.replace(name, mask_name(name))
    if room:
        text = text.replace(room, "*" * len(room))
    return scrub(text)


async def record_health(
    session: AsyncSession,
    *,
    who: Standing,
    number: int,
    temp_centi: int,
    symptoms: str,
    now: datetime,
    threshold: int,
) -> Checked:
    q, place = await entry_for(session, who, number)
    if q.state != QUARANTINE_ACTIVE:
        raise QuarantineError("released", number=number)
    symptoms = clean_symptoms(symptoms, q.name, q.room)
    fever = temp_centi >= threshold
    check = HealthCheck(
        quarantine_id=number, temp_centi=temp_centi, symptoms=symptoms,
        abnormal=fever or bool(symptoms), reported_by=who.account, reported_at=now,
    )
    session.add(check)
    await session.flush()
    await audit(session, who.account, "health_check", f"#{number}")
    result = Checked(
        view(q, place, local(now).date(), check, True), fmt_temp(temp_centi), symptoms, fever,
        fmt_temp(threshold),
    )
    if result.abnormal:
        groups = places.team_groups(await places.staff_groups(session), ALERT_TEAM, place)
        result.alert_groups = groups
        if not groups:
            # Better privately to each member than not at all.
            result.alert_accounts = await places.team_accounts(session, ALERT_TEAM)
            log.warning("health alert #%s: no %s group bound; %d members told privately",
                        number, ALERT_TEAM, len(result.alert_accounts))
    return result


# --- reminders -------------------------------------------------------------------------------


@dataclass
class Reminder:
    entry: EntryView
    accounts: list[str]
    day_no: int


async def reminder(session: AsyncSession, item: ScheduledItem, now: datetime) -> Reminder | None:
    """Who gets an entry's reminder: the unit's leaders (单元长, else 楼长), or
    whoever registered the entry when the unit has no leader with an account."""
    q = await session.get(Quarantine, item.ref_id)
    if q is None or q.state != QUARANTINE_ACTIVE:
        return None
    place = await places.place_of(session, q.unit_id)
    if place is None:
        return None
    day = local(item.due_at).date()
    leaders = await places.responsible_leaders(session, place, now)
    accounts = list(dict.fromkeys(a for ld in leaders for a in ld.accounts))
    if not accounts:
        log.warning("quarantine #%s: unit has no leader with an account; telling the registrant",
                    q.id)
        accounts = [q.created_by]
    return Reminder(view(q, place, day), accounts, (day - q.start_date).days + 1)
