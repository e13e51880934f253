"""The scheduling core (bot/scheduler.py): the lease, late and missed items after a
downtime, recurring definitions, deterministic jobs across restarts, time zones.

Real APScheduler and real SQLite files; a controllable clock decides what is due
and a "restart" is a new Scheduler (new lease holder) on the same database.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.runtime import Runtime
from bot.scheduler import (
    MissedItem,
    Recurrence,
    Scheduler,
    add_item,
    daily_at,
    every_minutes,
    job_id,
)
from ground.timeutil import SHANGHAI
from storage.db import Database
from storage.models import ScheduledItem
from storage.models_deadlines import SchedulerLease
from tests.helpers import CancelTurnsIntoError, advance, freeze_clock, scheduled_items

ROOT = Path(__file__).resolve().parent.parent


async def items(rt: Runtime) -> list[ScheduledItem]:
    return await scheduled_items(rt)


async def wait_for(predicate, timeout: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def settled(rt: Runtime) -> list[ScheduledItem]:
    """The rows once no handler is mid-run (a timer's fire() ends after its handler)."""
    for _ in range(300):
        rows = await items(rt)
        if all(i.state != "claimed" for i in rows):
            return rows
        await asyncio.sleep(0.01)
    raise AssertionError("a handler is still running")


def fast_lease(**kw) -> dict:
    return {"lease_ttl": timedelta(seconds=0.6), "lease_renew": timedelta(seconds=0.05), **kw}


# --- the lease ----------------------------------------------------------------------------------


async def test_second_scheduler_on_the_same_database_stands_by_then_takes_over(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    fired: list[str] = []

    def handler_for(name: str):
        async def handler(rt: Runtime, item: ScheduledItem) -> None:
            fired.append(name)

        return handler

    clock = freeze_clock(runtime, datetime(2031, 3, 3, 10, 0, tzinfo=SHANGHAI))
    async with runtime.db.write() as s:
        future = await add_item(s, "test.kind", 1, clock.at + timedelta(hours=1))
    other = Runtime(runtime.settings, Database(runtime.settings.db_url), clock=clock)
    a = Scheduler(runtime, {"test.kind": handler_for("a")}, **fast_lease())
    b = Scheduler(other, {"test.kind": handler_for("b")}, **fast_lease())
    try:
        assert (await a.start()).leader and a.leader
        assert [j.id for j in a.aps.get_jobs()] == [job_id("test.kind", 1, future.due_at)]
        caplog.clear()
        with caplog.at_level(logging.ERROR, logger="gridbot.scheduler"):
            report = await b.start()
            assert not report.leader and (report.armed, report.late, report.missed) == (0, 0, 0)
            assert not b.leader and b.aps.get_jobs() == []
            assert b.arm(future) is False  # a standby arms nothing, even when asked
            await asyncio.sleep(0.4)  # several retries while a renews
        errors = [r for r in caplog.records if "holds the scheduler lease" in r.getMessage()]
        assert len(errors) == 1  # said once, not at every retry
        assert not b.leader

        # A clean stop releases the lease: b takes over at its next try and rebuilds.
        await a.stop()
        await wait_for(lambda: b.leader and b.aps.get_jobs())
        assert [j.id for j in b.aps.get_jobs()] == [job_id("test.kind", 1, future.due_at)]
        async with runtime.db.read() as s:
            lease = await s.get(SchedulerLease, "scheduler")
        assert lease is not None and lease.holder == b.holder

        # A frozen holder (no renewals, no release) is replaced once its lease expires,
        # and disarms itself when it wakes up and finds the lease gone.
        c = Scheduler(runtime, {"test.kind": handler_for("c")}, **fast_lease())
        assert not (await c.start()).leader
        assert b._lease_task is not None
        b._lease_task.cancel()  # b freezes
        await wait_for(lambda: c.leader and c.aps.get_jobs(), timeout=3.0)
        assert [j.id for j in c.aps.get_jobs()] == [job_id("test.kind", 1, future.due_at)]
        b._lease_task = asyncio.create_task(b._keep_lease())  # b wakes up
        await wait_for(lambda: not b.leader)
        assert b.aps.get_jobs() == []
        assert fired == []
        # Only the holder's timers exist; claims keep even a direct double fire single.
        results = await asyncio.gather(b.fire(future.id), c.fire(future.id))
        assert sorted(results) == [False, True] and len(fired) == 1
        await c.stop()
    finally:
        for sched in (a, b):
            await sched.stop()
        await other.db.dispose()


async def test_stop_ends_the_lease_loop_even_when_its_cancel_meets_an_error(
    runtime: Runtime,
) -> None:
    db = CancelTurnsIntoError(runtime.settings.db_url)
    rt = Runtime(runtime.settings, db, clock=runtime.clock)
    sched = Scheduler(rt, {"test.kind": lambda rt, item: None}, **fast_lease())
    stopping: asyncio.Task | None = None
    try:
        assert (await sched.start()).leader
        db.hold = True  # the next renewal waits inside its transaction
        await asyncio.wait_for(db.inside.wait(), 5)
        db.hold = False
        stopping = asyncio.create_task(sched.stop())
        done, _ = await asyncio.wait({stopping}, timeout=5)  # (asyncio.wait cancels nothing)
        assert stopping in done  # before: the loop logged the error and went on
        assert stopping.exception() is None and not sched.leader
    finally:
        for task in (sched._lease_task, stopping):
            if task is not None:
                task.cancel()
        await sched.stop()
        await db.dispose()


# --- late and missed after a downtime --------------------------------------------------------


async def test_downtime_sends_recent_items_late_and_reports_old_ones_once(
    runtime: Runtime,
) -> None:
    clock = freeze_clock(runtime, datetime(2031, 3, 3, 10, 0, tzinfo=SHANGHAI))
    seen: list[tuple[int, bool]] = []
    reports: list[list[tuple[str, bool]]] = []

    async def handler(rt: Runtime, item: ScheduledItem) -> None:
        seen.append((item.ref_id, item.late))

    async def describe(rt: Runtime, s, item: ScheduledItem) -> str | None:
        return None if item.ref_id == 6 else f"测试项 {item.ref_id}"

    async def on_missed(rt: Runtime, s, missed: list[MissedItem]) -> None:
        reports.append([(m.text, m.interrupted) for m in missed])

    def scheduler() -> Scheduler:
        return Scheduler(
            runtime, {"test.kind": handler}, describe={"test.kind": describe},
            on_missed=(on_missed,), late_grace=timedelta(minutes=30),
        )

    first = scheduler()
    await first.start()
    async with runtime.db.write() as s:
        for ref, minutes in ((1, 5), (2, 40), (3, 150), (4, 190), (5, 200), (6, 60)):
            first.arm(await add_item(s, "test.kind", ref, clock.at + timedelta(minutes=minutes)))
    assert len(first.aps.get_jobs()) == 6
    await advance(first, clock, minutes=5)
    assert seen == [(1, False)]  # on time, by its timer
    await first.stop()

    # Down for three hours and twenty minutes: now 13:25.
    clock.advance(hours=3, minutes=20)
    async with runtime.db.write() as s:  # one was cut off mid-run before the stop
        crashed = await s.get(ScheduledItem, (await items(runtime))[1].id)
        crashed.state = "claimed"
        s.add(crashed)
    second = scheduler()
    report = await second.start()
    try:
        # 2 (claimed), 6 (2 h 25 min late) and 3 (55 min) missed; 4 (15 min) and 5 (5 min)
        # within the 30-minute grace: sent now, marked late.
        assert (report.armed, report.late, report.missed) == (2, 2, 3)
        await wait_for(lambda: len(seen) == 3)
        assert sorted(seen) == [(1, False), (4, True), (5, True)]
        # One report, items described by their kind's hook; 6 was moot and left out.
        assert reports == [[("测试项 2", True), ("测试项 3", False)]]
        states = {i.ref_id: (i.state, i.late, i.attempts) for i in await settled(runtime)}
        assert states == {
            1: ("done", False, 1), 2: ("missed", False, 0), 3: ("missed", False, 0),
            4: ("done", True, 1), 5: ("done", True, 1), 6: ("missed", False, 0),
        }
    finally:
        await second.stop()
    third = scheduler()
    await third.start()  # another restart: nothing reported or sent twice
    await asyncio.sleep(0.1)
    await third.stop()
    assert len(reports) == 1 and len(seen) == 3


# --- recurring definitions ------------------------------------------------------------------------


async def test_ten_minute_job_runs_once_after_two_hours_down(runtime: Runtime) -> None:
    clock = freeze_clock(runtime, datetime(2031, 3, 3, 8, 0, tzinfo=SHANGHAI))
    runs: list[tuple[datetime, bool]] = []
    active = {"on": True}

    async def handler(rt: Runtime, item: ScheduledItem) -> None:
        runs.append((item.due_at, item.late))

    async def recurrence(rt: Runtime, s, ref_id: int) -> Recurrence | None:
        return every_minutes(10) if active["on"] else None

    def scheduler() -> Scheduler:
        return Scheduler(runtime, {"job.every": handler}, recurring={"job.every": recurrence})

    first = scheduler()
    await first.start()
    async with runtime.db.write() as s:
        first.arm(await add_item(s, "job.every", 1, clock.at + timedelta(minutes=10)))
    await advance(first, clock, minutes=10)
    assert runs == [(datetime(2031, 3, 3, 8, 10, tzinfo=SHANGHAI), False)]  # 08:20 queued
    assert [j.id for j in first.aps.get_jobs()] == ["job.every:1:203103030020"]
    await first.stop()

    clock.advance(hours=2, minutes=1)  # down from 08:10 to 10:11: twelve runs missed
    second = scheduler()
    report = await second.start()
    try:
        assert (report.armed, report.late, report.missed) == (1, 1, 0)
        await wait_for(lambda: len(runs) == 2)
        await asyncio.sleep(0.1)
        assert len(runs) == 2  # one catch-up run, not twelve
        assert runs[1] == (datetime(2031, 3, 3, 8, 20, tzinfo=SHANGHAI), True)
        rows = [(i.due_at.astimezone(SHANGHAI).strftime("%H:%M"), i.state, i.late)
                for i in await settled(runtime)]
        # The next one keeps the 10-minute grid and lies ahead of now.
        assert rows == [("08:10", "done", False), ("08:20", "done", True),
                        ("10:20", "pending", False)]
        assert [j.id for j in second.aps.get_jobs()] == ["job.every:1:203103030220"]
        # The chain goes on at its pace, fired by its timer when the clock gets
        # there; a stopped definition ends it.
        active["on"] = False
        clock.at = datetime(2031, 3, 3, 10, 20, tzinfo=SHANGHAI)
        await second.settle()
        assert runs[2] == (datetime(2031, 3, 3, 10, 20, tzinfo=SHANGHAI), False)
        assert len(await items(runtime)) == 3 and second.aps.get_jobs() == []
    finally:
        await second.stop()


def test_recurrence_arithmetic_is_in_shanghai_time() -> None:
    morning = daily_at(9 * 60)
    # 00:30 UTC is 08:30 in Shanghai: today's 09:00 is still ahead.
    after = datetime(2031, 3, 3, 0, 30, tzinfo=UTC)
    assert morning.next_after(after) == datetime(2031, 3, 3, 9, 0, tzinfo=SHANGHAI)
    assert morning.next_after(datetime(2031, 3, 3, 1, 0, tzinfo=UTC)) == datetime(
        2031, 3, 4, 9, 0, tzinfo=SHANGHAI
    )
    ten = every_minutes(10)
    anchor = datetime(2031, 3, 3, 0, 10, tzinfo=UTC)
    assert ten.next_after(anchor, anchor=anchor) == anchor + timedelta(minutes=10)
    assert ten.next_after(anchor + timedelta(minutes=125), anchor=anchor) == anchor + timedelta(
        minutes=130
    )
    with pytest.raises(ValueError):
        Recurrence()
    with pytest.raises(ValueError):
        daily_at(1440)


# --- restarts ------------------------------------------------------------------------------


async def test_ten_restarts_leave_the_job_set_unchanged(street: Runtime) -> None:
    """As the app builds it (every plugin's hooks); the state after the first start
    is the state after the tenth."""
    from bot.scheduler import declared_hooks
    from plugins.alerts import service as alerts
    from plugins.assist import service as assist
    from plugins.reminders import service as reminders
    from plugins.roster.service import bind_group
    from storage.repo import ALL

    clock = freeze_clock(street, datetime(2031, 3, 3, 9, 0, tzinfo=SHANGHAI))
    async with street.db.write() as s:
        await bind_group(s, actor="qq:10001", platform="qq", group_id="900001", bot_id="8888",
                         scope=ALL, kind_word="工作群")
    async with street.db.write() as s:
        chat = reminders.Chat("qq", "8888", "qq:10002", "900001")
        await reminders.create(s, chat=chat, text="开会", now=clock.at,
                               when=clock.at + timedelta(hours=3))
        await reminders.create(s, chat=chat, text="测温", now=clock.at, daily_minute=8 * 60)
        await alerts.start(s, actor="qq:10001", region="成都市", now=clock.at)
        await assist.create(s, actor="qq:10001", letter_no="2031-7", note="", now=clock.at)

    snapshots = []
    for _ in range(10):
        sched = Scheduler.from_hooks(street, declared_hooks())
        street.scheduler = sched
        report = await sched.start()
        assert report.leader and report.missed == 0
        jobs = sorted((jid, due.isoformat()) for jid, due in sched.timers().items())
        rows = [(i.id, i.kind, i.ref_id, i.due_at.isoformat(), i.state)
                for i in await items(street)]
        snapshots.append((jobs, rows))
        await sched.stop()
    first_jobs, first_rows = snapshots[0]
    assert all(snap == snapshots[0] for snap in snapshots[1:])
    kinds = {kind for _, kind, *_ in first_rows}
    assert {"reminder.due", "reminder.daily", "alert.ack_remind", "alert.ack_deadline",
            "alert.round_deadline", "checkin.remind", "checkin.deadline", "assist.remind",
            "assist.overdue"} <= kinds
    assert len(first_jobs) == sum(1 for *_, state in first_rows if state == "pending")
    assert "reminder.due:1:203103030400" in {j for j, _ in first_jobs}


# --- time zones -----------------------------------------------------------------------------------

TZ_SNIPPET = textwrap.dedent(
    """
    import asyncio, sys, time
    from datetime import datetime
    from zoneinfo import ZoneInfo
    from bot.runtime import Runtime
    from bot.scheduler import Scheduler, job_id
    from bot.settings import Settings
    from ground.grammar import parse_when
    from storage import migrate
    from storage.db import Database
    from ground.timeutil import fmt

    url = sys.argv[1]
    SH = ZoneInfo("Asia/Shanghai")

    async def main():
        migrate.upgrade(url)
        now = datetime(2031, 3, 3, 7, 0, tzinfo=SH)
        rt = Runtime(Settings(gridbot_db_url=url), Database(url), clock=lambda: now)
        fired = []

        async def handler(rt, item):
            fired.append(rt.now())

        sched = Scheduler(rt, {"reminder.due": handler})
        await sched.start()
        when = parse_when("09:00", rt.now())  # how /提醒 09:00 reads the time
        item = await sched.schedule("reminder.due", 1, when)
        job = sched.aps.get_job(job_id(item.kind, item.ref_id, item.due_at))
        wait_min = round((job.next_run_time - datetime.now(SH)).total_seconds() / 60)
        zone = job.next_run_time.utcoffset().total_seconds()
        now = datetime(2031, 3, 3, 9, 0, tzinfo=SH)
        await sched.fire(item.id)
        await sched.stop()
        await rt.db.dispose()
        print(time.localtime().tm_gmtoff, f"{wait_min}min@{zone:.0f}",
              item.due_at.isoformat(), fmt(item.due_at), fired[0].isoformat(), sep="|")

    asyncio.run(main())
    """
)


@pytest.mark.parametrize("tz", ["UTC", "Asia/Shanghai"])
def test_a_0900_reminder_fires_at_0900_shanghai_whatever_the_host_zone(
    tz: str, tmp_path: Path
) -> None:
    env = os.environ | {"TZ": tz, "PYTHONPATH": str(ROOT)}
    url = f"sqlite+aiosqlite:///{tmp_path / 'tz.db'}"
    out = subprocess.run(
        [sys.executable, "-c", TZ_SNIPPET, url], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=60, check=True,
    ).stdout.strip().splitlines()[-1].split("|")
    offset, next_run, stored, shown, fired_at = out
    assert offset == ("0" if tz == "UTC" else "28800")  # the host zone really differs
    # The timer waits the two hours from 07:00 to 09:00 on the runtime clock, in Shanghai time.
    assert next_run == "120min@28800"
    assert stored == "2031-03-03T01:00:00+00:00"
    assert shown == "03-03 09:00" and fired_at == "2031-03-03T09:00:00+08:00"
