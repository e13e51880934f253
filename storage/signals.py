"""Signals that a report needs checking (需核实). Never acted on by themselves: a
spot check (``/抽查``) draws flagged units first, and the 督查 summary counts them
(``plugins/supervision/signals.py``); staff read them there.

Each rule is named and its thresholds are settings (``bot.settings``):

* ``burst`` — one account reported ``signal_burst_units`` or more units of the round
  within ``signal_burst_seconds``;
* ``same_figures`` — the unit's figures equal its reports in the previous
  ``signal_same_days`` - 1 daily rounds of the same definition (the same numbers
  day after day);
* ``instant`` — reported within ``signal_instant_seconds`` of the round opening by an
  account that had never reported before;
* ``same_temperature`` — a quarantined person's last reading the same on
  ``signal_same_temp_days`` days running (counted by the supervision plugin; the
  quarantine list shows it through its own reading of the newest checks).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ground.timeutil import as_utc
from storage.models import CheckinReport, CheckinRound

BURST, SAME_FIGURES, INSTANT, SAME_TEMPERATURE = (
    "burst", "same_figures", "instant", "same_temperature")
RULES = (BURST, SAME_FIGURES, INSTANT, SAME_TEMPERATURE)


@dataclass(frozen=True)
class Thresholds:
    burst_units: int = 5
    burst_seconds: int = 30
    same_days: int = 5
    instant_seconds: int = 60
    same_temp_days: int = 5

    @classmethod
    def of(cls, settings) -> Thresholds:
        return cls(settings.signal_burst_units, settings.signal_burst_seconds,
                   settings.signal_same_days, settings.signal_instant_seconds,
                   settings.signal_same_temp_days)


def _figures(r: CheckinReport) -> tuple[int, ...]:
    return (r.households, r.returned, r.isolated, r.abnormal, r.vacant, r.away, r.refused)


async def flagged(
    session: AsyncSession, rnd: CheckinRound, limits: Thresholds,
) -> dict[int, list[str]]:
    """The round's units whose current report trips a rule: unit id -> rule names."""
    reports = list((await session.exec(
        select(CheckinReport).where(col(CheckinReport.round_id) == rnd.id,
                                    col(CheckinReport.is_current).is_(True))
        .order_by(col(CheckinReport.reported_at))
    )).all())
    out: dict[int, list[str]] = defaultdict(list)
    # burst: a window of burst_units reports by one account within burst_seconds.
    by_account: dict[str, list[CheckinReport]] = defaultdict(list)
    for r in reports:
        by_account[r.reporter].append(r)
    window = timedelta(seconds=limits.burst_seconds)
    for rows in by_account.values():
        n = limits.burst_units
        for i in range(len(rows) - n + 1):
            if as_utc(rows[i + n - 1].reported_at) - as_utc(rows[i].reported_at) <= window:
                for r in rows[i:i + n]:
                    if BURST not in out[r.unit_id]:
                        out[r.unit_id].append(BURST)
    # same_figures: the same numbers in the previous rounds of this daily definition.
    if rnd.recurring_id is not None and limits.same_days > 1:
        earlier = list((await session.exec(
            select(CheckinRound.id).where(col(CheckinRound.recurring_id) == rnd.recurring_id,
                                          col(CheckinRound.id) < rnd.id)
            .order_by(col(CheckinRound.id).desc()).limit(limits.same_days - 1)
        )).all())
        if len(earlier) == limits.same_days - 1:
            past = (await session.exec(
                select(CheckinReport).where(col(CheckinReport.round_id).in_(earlier),
                                            col(CheckinReport.is_current).is_(True))
            )).all()
            seen: dict[int, list[tuple[int, ...]]] = defaultdict(list)
            for p in past:
                seen[p.unit_id].append(_figures(p))
            for r in reports:
                history = seen.get(r.unit_id, [])
                if len(history) == len(earlier) and all(f == _figures(r) for f in history):
                    out[r.unit_id].append(SAME_FIGURES)
    # instant: seconds after opening, by an account with no earlier report at all.
    soon = as_utc(rnd.opened_at) + timedelta(seconds=limits.instant_seconds)
    for r in reports:
        if as_utc(r.reported_at) > soon:
            continue
        before = (await session.exec(
            select(CheckinReport.id).where(col(CheckinReport.reporter) == r.reporter,
                                           col(CheckinReport.id) < r.id).limit(1)
        )).first()
        if before is None:
            out[r.unit_id].append(INSTANT)
    return dict(out)
