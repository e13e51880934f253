"""需核实 signals (issue 14/15): each named rule with a case that trips it and one that
does not, on a real SQLite file; and a spot check draws flagged units first."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from bot.runtime import Runtime
from ground.timeutil import SHANGHAI
from tests.helpers import daily_rounds, file_report, open_round

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=SHANGHAI)


def _sig():
    from storage import signals

    return signals


async def _flagged(rt: Runtime, round_id: int, **limits) -> dict[int, list[str]]:
    from storage.models import CheckinRound

    async with rt.db.read() as s:
        rnd = await s.get(CheckinRound, round_id)
        return await _sig().flagged(s, rnd, _sig().Thresholds(**limits))


async def test_burst_one_account_many_units_within_seconds(street: Runtime) -> None:
    r = await open_round(street, T0)
    for unit in (1, 2, 3):  # three units within 20 s by one account: a burst of 3
        await file_report(street, r, unit, "qq:20001",
                          T0 + timedelta(minutes=10, seconds=unit * 10))
    await file_report(street, r, 4, "qq:20002", T0 + timedelta(minutes=11))
    flagged = await _flagged(street, r, burst_units=3, burst_seconds=30, instant_seconds=1)
    assert flagged == {1: ["burst"], 2: ["burst"], 3: ["burst"]}
    # Negative: the same three reports spread over minutes are no burst.
    r2 = await open_round(street, T0)
    for unit in (1, 2, 3):
        await file_report(street, r2, unit, "qq:20001", T0 + timedelta(minutes=10 * unit))
    assert await _flagged(street, r2, burst_units=3, burst_seconds=30, instant_seconds=1) == {}


async def test_same_figures_day_after_day(street: Runtime) -> None:
    days = await daily_rounds(street, T0)  # unit 1: 18 every day; unit 2 changes every day
    flagged = await _flagged(street, days[-1], same_days=3, instant_seconds=1)
    assert flagged == {1: ["same_figures"]}
    # Negative: with a longer run required there is not enough history yet.
    assert await _flagged(street, days[-1], same_days=4, instant_seconds=1) == {}


async def test_instant_report_by_a_first_time_account(street: Runtime) -> None:
    r = await open_round(street, T0)
    await file_report(street, r, 1, "qq:30011", T0 + timedelta(seconds=20))  # never reported before
    flagged = await _flagged(street, r, instant_seconds=60)
    assert flagged == {1: ["instant"]}
    # Negative: the same account, fast again in the next round, has reported before;
    # a newcomer who reports after the first minute is not flagged either.
    r2 = await open_round(street, T0 + timedelta(days=1))
    await file_report(street, r2, 1, "qq:30011", T0 + timedelta(days=1, seconds=20))
    await file_report(street, r2, 2, "qq:30012", T0 + timedelta(days=1, minutes=5))
    assert await _flagged(street, r2, instant_seconds=60) == {}


async def test_a_spot_check_draws_flagged_units_first(street: Runtime) -> None:
    from plugins.checkin import spot
    from storage.models import CheckinRound

    r = await open_round(street, T0)
    for unit in range(1, 8):
        await file_report(street, r, unit, f"qq:3000{unit}", T0 + timedelta(hours=1, minutes=unit))
    for seed in range(20):
        async with street.db.write() as s:
            rnd = await s.get(CheckinRound, r)
            asked, _ = await spot.draw(s, rnd, 2, actor="qq:10002", now=T0 + timedelta(hours=2),
                                       rng=random.Random(seed), flagged={5: ["burst"]})
            assert asked[0].check.unit_id == 5 and asked[0].signals == ("burst",)
            await s.rollback()
