"""The duty record (督查): who did their duty on time, derived from the tables that
already hold the facts. This first part covers the check-in obligations: each unit
of each round whose deadline fell in the period, its responsible leader (单元长, else
楼长), when it was due and first reported, and the outcome (on time, late by how
many minutes, or missed). Incidents, 协查 and 预警 are not in it yet.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import and_, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ground.grammar import normalize
from ground.timeutil import SHANGHAI, as_utc, local
from storage.models import (
    Building,
    CheckinReport,
    CheckinRound,
    CheckinRoundUnit,
    Community,
    Grid,
    Unit,
)
from storage.places import Place, leaders_by_unit

ON_TIME, LATE, MISSED = "on_time", "late", "missed"
_SPAN_RE = re.compile(
    r"^(?P<a>\d{1,2})-(?P<ad>\d{1,2})\s*(?:至|到|~|-)\s*(?P<b>\d{1,2})-(?P<bd>\d{1,2})$")


@dataclass(frozen=True)
class Period:
    start: datetime  # aware, inclusive
    end: datetime  # aware, exclusive
    label: str


def parse_period(text: str, now: datetime) -> Period | None:
    """``本周`` (default) ``上周`` ``本月`` ``上月`` or ``11-01至11-30`` (local dates)."""
    t = normalize(text).replace(" ", "") or "本周"
    today = local(now).date()

    def midnight(d: date) -> datetime:
        return datetime.combine(d, time(0), tzinfo=SHANGHAI)

    monday = today - timedelta(days=today.weekday())
    first = today.replace(day=1)
    if t == "本周":
        return Period(midnight(monday), midnight(today + timedelta(days=1)), "本周")
    if t == "上周":
        return Period(midnight(monday - timedelta(days=7)), midnight(monday), "上周")
    if t == "本月":
        return Period(midnight(first), midnight(today + timedelta(days=1)), "本月")
    if t == "上月":
        last_first = (first - timedelta(days=1)).replace(day=1)
        return Period(midnight(last_first), midnight(first), "上月")
    m = _SPAN_RE.match(t)
    if m is None:
        return None
    try:
        a = date(today.year, int(m["a"]), int(m["ad"]))
        b = date(today.year, int(m["b"]), int(m["bd"]))
    except ValueError:
        return None
    if a > b or (b - a).days > 366:
        return None
    return Period(midnight(a), midnight(b + timedelta(days=1)), f"{a:%m-%d}至{b:%m-%d}")


@dataclass(frozen=True)
class Obligation:
    kind: str  # 排查打卡
    ref: str  # #3 3栋2单元
    community: str
    grid: str
    person: str  # the responsible leader's name, "" when none is registered
    role: str
    due: datetime
    done: datetime | None
    outcome: str  # on_time | late | missed

    @property
    def late_minutes(self) -> int:
        if self.done is None or self.outcome != LATE:
            return 0
        return int((as_utc(self.done) - as_utc(self.due)).total_seconds() // 60)


async def checkin_obligations(
    session: AsyncSession, period: Period, now: datetime,
) -> list[Obligation]:
    """Every unit of every round whose deadline fell in the period and has passed."""
    until = min(as_utc(period.end), as_utc(now))
    RU = CheckinRoundUnit
    first = (
        select(CheckinReport.round_id, CheckinReport.unit_id,
               func.min(CheckinReport.reported_at).label("done"))
        .group_by(CheckinReport.round_id, CheckinReport.unit_id).subquery()
    )
    rows = (await session.exec(
        select(CheckinRound.id, CheckinRound.deadline, RU.unit_id, RU.building_id, RU.grid_id,
               RU.community_id, Building.number, Unit.number, Community.name, Grid.name,
               first.c.done)
        .join(RU, col(RU.round_id) == CheckinRound.id)
        .join(Unit, col(Unit.id) == RU.unit_id)
        .join(Building, col(Building.id) == RU.building_id)
        .join(Community, col(Community.id) == RU.community_id)
        .join(Grid, col(Grid.id) == RU.grid_id)
        .outerjoin(first, and_(first.c.round_id == RU.round_id, first.c.unit_id == RU.unit_id))
        .where(col(CheckinRound.deadline) >= as_utc(period.start),
               col(CheckinRound.deadline) < until)
        .order_by(CheckinRound.id, Community.name, Building.number, Unit.number)
    )).all()
    places = [Place(r[2], r[3], r[4], r[5]) for r in rows]
    leaders = await leaders_by_unit(session, places, now)
    out = []
    for (rid, deadline, _unit, _b, _g, _c, b_no, u_no, community, grid, done), place in zip(
        rows, places, strict=True
    ):
        who = next(iter(leaders.get(place.unit_id, [])), None)
        outcome = MISSED if done is None else (
            ON_TIME if as_utc(done) <= as_utc(deadline) else LATE)
        out.append(Obligation(
            "排查打卡", f"#{rid} {b_no}栋{u_no}单元", community, grid,
            who.name if who else "", who.role if who else "", deadline, done, outcome,
        ))
    return out


@dataclass
class Tally:
    label: str
    total: int = 0
    on_time: int = 0
    late: int = 0
    missed: int = 0

    def add(self, o: Obligation) -> None:
        self.total += 1
        setattr(self, o.outcome, getattr(self, o.outcome) + 1)

    @property
    def rate(self) -> int:
        return self.on_time * 100 // self.total if self.total else 100


@dataclass
class Person:
    name: str
    role: str
    late: int = 0
    missed: int = 0


@dataclass
class Summary:
    period: Period
    all: Tally
    communities: list[Tally] = field(default_factory=list)
    grids: list[Tally] = field(default_factory=list)
    people: list[Person] = field(default_factory=list)  # most late or missed first


def summarize(period: Period, obligations: list[Obligation], top: int = 5) -> Summary:
    total = Tally("合计")
    by_community: dict[str, Tally] = {}
    by_grid: dict[str, Tally] = {}
    people: dict[tuple[str, str], Person] = defaultdict(lambda: Person("", ""))
    for o in obligations:
        total.add(o)
        by_community.setdefault(o.community, Tally(o.community)).add(o)
        by_grid.setdefault(f"{o.community}/{o.grid}", Tally(f"{o.community}/{o.grid}")).add(o)
        if o.outcome != ON_TIME and o.person:
            p = people[(o.person, o.role)]
            p.name, p.role = o.person, o.role
            if o.outcome == LATE:
                p.late += 1
            else:
                p.missed += 1
    ranked = sorted(people.values(), key=lambda p: (-(p.late + p.missed), -p.missed, p.name))
    return Summary(period, total, sorted(by_community.values(), key=lambda t: t.label),
                   sorted(by_grid.values(), key=lambda t: t.label), ranked[:top])
