"""需核实 in the 督查 summary: how often each named rule tripped in the period, never a
conclusion. Derived at query time from the tables (nothing is stored).

The rules and their thresholds (settings ``signal_*``) are ``storage.signals``, the
ones ``/抽查`` draws by; ``same_temperature`` as ``/隔离 列表`` shows it.

* ``burst``, ``same_figures``, ``instant``: the units (of the rounds whose deadline
  fell in the period, within the scope) whose current report trips the rule;
* ``same_temperature``: quarantine entries (within the scope) whose last reading of
  each of ``signal_same_temp_days`` consecutive days in the period is the same.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ground.timeutil import as_utc, local
from plugins.supervision.service import Period, covers
from storage.models import CheckinRound, CheckinRoundUnit
from storage.models_events import HealthCheck, Quarantine
from storage.places import Place, places_of
from storage.repo import Scope
from storage.signals import RULES, SAME_TEMPERATURE, Thresholds
from storage.signals import flagged as flag

__all__ = ["RULES", "Signal", "Thresholds", "same_temperature_run", "signals"]


@dataclass(frozen=True)
class Signal:
    rule: str  # one of RULES
    count: int  # units (check-in rules) or quarantine entries (same_temperature)
    limits: Thresholds

    @property
    def what(self) -> str:
        return "个隔离对象" if self.rule == SAME_TEMPERATURE else "个单元次"


def same_temperature_run(readings: list[tuple[datetime, int]], days: int) -> bool:
    """Whether the last reading of each of ``days`` consecutive local days is the same."""
    last_of_day: dict[date, int] = {}
    for at, temp in sorted(readings, key=lambda r: as_utc(r[0])):
        last_of_day[local(at).date()] = temp
    for start in last_of_day:
        run = [last_of_day.get(start + timedelta(days=i)) for i in range(days)]
        if None not in run and len(set(run)) == 1:
            return True
    return False


async def signals(
    session: AsyncSession, period: Period, now: datetime, limits: Thresholds,
    scope: Scope | None = None,
) -> list[Signal]:
    """Each rule that tripped in the period (within ``scope``), with how often."""
    since, until = as_utc(period.start), min(as_utc(period.end), as_utc(now))
    counts = dict.fromkeys(RULES, 0)
    rounds = (await session.exec(
        select(CheckinRound).where(col(CheckinRound.deadline) >= since,
                                   col(CheckinRound.deadline) < until)
        .order_by(CheckinRound.id)
    )).all()
    for rnd in rounds:
        flagged = await flag(session, rnd, limits)
        if not flagged:
            continue
        if scope is not None and scope.kind != "all":
            units = (await session.exec(select(CheckinRoundUnit).where(
                CheckinRoundUnit.round_id == rnd.id,
                col(CheckinRoundUnit.unit_id).in_(sorted(flagged))))).all()
            inside = {ru.unit_id for ru in units if covers(scope, Place.of(ru))}
            flagged = {u: r for u, r in flagged.items() if u in inside}
        for rules in flagged.values():
            for rule in rules:
                counts[rule] += 1
    rows = (await session.exec(
        select(HealthCheck.quarantine_id, HealthCheck.reported_at, HealthCheck.temp_centi,
               Quarantine.unit_id)
        .join(Quarantine, col(Quarantine.id) == HealthCheck.quarantine_id)
        .where(col(HealthCheck.reported_at) >= since, col(HealthCheck.reported_at) < until)
    )).all()
    readings: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
    unit_of: dict[int, int] = {}
    for qid, at, temp, unit_id in rows:
        readings[qid].append((at, temp))
        unit_of[qid] = unit_id
    if scope is not None and scope.kind != "all" and readings:
        where = await places_of(session, sorted(set(unit_of.values())))
        readings = {q: r for q, r in readings.items()
                    if unit_of[q] in where and covers(scope, where[unit_of[q]])}
    counts[SAME_TEMPERATURE] = sum(
        same_temperature_run(r, limits.same_temp_days) for r in readings.values())
    return [Signal(rule, n, limits) for rule, n in counts.items() if n]

