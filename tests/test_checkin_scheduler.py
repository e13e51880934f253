"""The scheduling core (bot/scheduler.py) and the check-in reminders it drives.

Real APScheduler everywhere, on a test clock: moving the clock fires what
became due (no wall-clock waits); direct ``fire``/``rebuild`` calls where the
decision logic is.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlmodel import select

from bot.runtime import Runtime
from bot.scheduler import Scheduler, add_item, job_id
from ground.timeutil import SHANGHAI
from storage.db import Database
from storage.models import CheckinRound, ScheduledItem
from storage.repo import Scope
from tests.helpers import advance, freeze_clock, scheduled_items
from tests.onebot import OneBotPeer
from tests.test_checkin_e2e import STAFF

# Plugin modules are imported inside tests: NoneBot must be initialised first.

WORK = 810001  # work group of 幸福社区/第一网格 (units 1-1, 1-2, 2-1, 2-2)
STATS = 810002  # 数据统计排查组
GRID1 = Scope("grid", (1,), "幸福社区/第一网格")


async def items(rt: Runtime) -> list[ScheduledItem]:
    return await scheduled_items(rt)


async def open_round(rt: Runtime, hours: float):
    from plugins.checkin import service

    async with rt.db.write() as s:
        opened = await service.open_round(
            s, actor="qq:10002", title="两小时排查", scope=GRID1,
            deadline=rt.now() + timedelta(hours=hours), now=rt.now(),
        )
    assert rt.scheduler is not None
    for item in opened.items:
        assert rt.scheduler.arm(item)
    return opened


async def test_reminder_and_deadline_fire_once_across_a_restart(
    peer: OneBotPeer, street: Runtime
) -> None:
    """Timers follow the runtime clock: moving it fires what became due, and a
    restarted scheduler fires only what is left, with no wall-clock waits."""
    from plugins.checkin import jobs

    clock = freeze_clock(street, datetime(2026, 11, 30, 8, 0, tzinfo=SHANGHAI))
    for group, args in ((WORK, "幸福社区/第一网格 工作群"), (STATS, "全部 数据统计排查组")):
        await peer.ask(STAFF, f"/绑定群 {args}", group_id=group)
    first = Scheduler.from_hooks(street, jobs.HOOKS)
    street.scheduler = first
    await first.start()
    try:
        opened = await open_round(street, 2)  # 80 % at 09:36, deadline at 10:00
        assert [i.kind for i in opened.items] == ["checkin.remind", "checkin.deadline"]
        sent = await peer.ask(30011, f"/打卡 #{opened.round.id} 已排查18户", group_id=WORK)
        assert sent.text.startswith("1栋1单元：")
        await advance(first, clock, minutes=95)  # 09:35: nothing due yet
        await peer.no_action(within=0.2)

        clock.advance(minutes=1)  # 09:36 (the peer answers the send: no settle first)
        reminder = await peer.expect_send()
        assert reminder.target == f"group:{WORK}"
        assert reminder.text.startswith("【排查提醒】")
        # Leaders of the three unreported units; 周敏 (2-2) has no account.
        assert reminder.ats == ["30012", "20001", "30021", "20002"]
        assert "1栋1单元" not in reminder.text and "2栋2单元：周敏（单元长）" in reminder.text
    finally:
        await first.stop()
    assert not first.running

    # "Restart": a new process would have a new engine and a new scheduler.
    restarted = Runtime(street.settings, Database(street.settings.db_url), clock=clock)
    second = Scheduler.from_hooks(restarted, jobs.HOOKS)
    restarted.scheduler = second
    report = await second.start()
    try:
        assert (report.armed, report.late, report.missed) == (1, 0, 0)  # only the deadline
        await peer.no_action(within=0.2)
        clock.advance(minutes=24)  # 10:00
        summary = await peer.expect_send()
        assert summary.target == f"group:{STATS}"
        assert summary.text.startswith("【截止汇总】")
        assert "单元 1/4" in summary.text and "户数 18/84" in summary.text
        assert "1栋2单元：赵志强（单元长）、王建国（楼长）" in summary.text
        await second.settle()
        await advance(second, clock, hours=30)
        await peer.no_action(within=0.3)
        states = [(i.kind, i.state, i.attempts) for i in await items(street)]
        assert states == [("checkin.remind", "done", 1), ("checkin.deadline", "done", 1)]
        # Firing a done item again does nothing.
        assert not await second.fire((await items(street))[0].id)
        await peer.no_action(within=0.3)
    finally:
        await second.stop()
        await restarted.db.dispose()


async def test_rebuild_fires_late_items_and_marks_old_ones_missed(runtime: Runtime) -> None:
    clock = freeze_clock(runtime, datetime(2026, 11, 30, 2, 0, tzinfo=UTC))
    fired: list[int] = []

    async def handler(rt: Runtime, item: ScheduledItem) -> None:
        fired.append(item.ref_id)

    async with runtime.db.write() as s:
        await add_item(s, "test.kind", 1, clock.at - timedelta(minutes=5))  # late
        old = await add_item(s, "test.kind", 2, clock.at - timedelta(hours=2))
        future = await add_item(s, "test.kind", 3, clock.at + timedelta(hours=1))
        crashed = await add_item(s, "test.kind", 4, clock.at - timedelta(minutes=1))
        crashed.state = "claimed"
        s.add(crashed)
        unknown = await add_item(s, "other.kind", 5, clock.at + timedelta(hours=1))
    sched = Scheduler(runtime, {"test.kind": handler}, late_grace=timedelta(minutes=30))
    report = await sched.start()
    try:
        assert (report.armed, report.late, report.missed) == (2, 1, 2)
        job = sched.aps.get_job(job_id("test.kind", 3, future.due_at))
        assert job is not None and job.id == "test.kind:3:202611300300"
        assert sched.aps.get_job(job_id("other.kind", 5, unknown.due_at)) is None
        for _ in range(100):  # the late one runs at once, on the real APScheduler
            if fired:
                break
            await asyncio.sleep(0.01)
        assert fired == [1]
        by_ref = {i.ref_id: i.state for i in await items(runtime)}
        assert by_ref == {1: "done", 2: "missed", 3: "pending", 4: "missed", 5: "pending"}
        # The future one fires when called, once.
        assert await sched.fire(future.id) is True
        assert await sched.fire(future.id) is False
        assert fired == [1, 3]
        assert old.id is not None and not await sched.fire(old.id)
    finally:
        await sched.stop()


async def test_two_schedulers_claim_an_item_once(runtime: Runtime) -> None:
    calls: list[int] = []

    async def handler(rt: Runtime, item: ScheduledItem) -> None:
        calls.append(item.id)
        await asyncio.sleep(0.05)

    item = None
    async with runtime.db.write() as s:
        item = await add_item(s, "test.kind", 7, runtime.now() + timedelta(hours=1))
    other_db = Database(runtime.settings.db_url)
    other = Runtime(runtime.settings, other_db, clock=runtime.clock)
    a, b = Scheduler(runtime, {"test.kind": handler}), Scheduler(other, {"test.kind": handler})
    results = await asyncio.gather(*(s.fire(item.id) for s in (a, b, a, b)))
    await other_db.dispose()
    assert sorted(results) == [False, False, False, True]
    assert calls == [item.id]


async def test_failed_handler_is_retried_then_given_up(runtime: Runtime) -> None:
    attempts: list[int] = []

    async def flaky(rt: Runtime, item: ScheduledItem) -> None:
        attempts.append(item.attempts)
        raise ConnectionError("bot offline")

    async with runtime.db.write() as s:
        await add_item(s, "test.kind", 9, runtime.now())
    sched = Scheduler(runtime, {"test.kind": flaky}, retry_delay=timedelta(seconds=0.05),
                      max_attempts=3)
    await sched.start()
    try:
        for _ in range(200):
            if (await items(runtime))[0].state == "missed":
                break
            await asyncio.sleep(0.02)
        assert attempts == [1, 2, 3]
        assert (await items(runtime))[0].state == "missed"
    finally:
        await sched.stop()


async def test_close_cancels_pending_reminders(peer: OneBotPeer, street: Runtime) -> None:
    from plugins.checkin import jobs

    await peer.ask(STAFF, "/绑定群 幸福社区/第一网格 工作群", group_id=WORK)
    sched = Scheduler.from_hooks(street, jobs.HOOKS)
    street.scheduler = sched
    await sched.start()
    try:
        sent = await peer.ask(STAFF, "/排查 发起 测试 截止 2小时", group_id=WORK)
        assert "已发起排查 #1" in sent.text and "4个单元" in sent.text
        assert len(sched.aps.get_jobs()) == 2
        sent = await peer.ask(STAFF, "/结束 #1", group_id=WORK)
        assert "还有4个单元未报" in sent.text and len(sched.aps.get_jobs()) == 2
        sent = await peer.ask(STAFF, "/确认", group_id=WORK)
        assert "已结束排查 #1" in sent.text
        assert sched.aps.get_jobs() == []
        assert [i.state for i in await items(street)] == ["cancelled", "cancelled"]
    finally:
        await sched.stop()


async def test_daily_round_opens_reminds_and_closes(peer: OneBotPeer, street: Runtime) -> None:
    from plugins.checkin import jobs

    clock = freeze_clock(street, datetime(2026, 11, 30, 9, 0, tzinfo=SHANGHAI))
    await peer.ask(STAFF, "/绑定群 幸福社区/第一网格 工作群", group_id=WORK)
    sched = Scheduler.from_hooks(street, jobs.HOOKS)
    street.scheduler = sched
    try:
        sent = await peer.ask(
            STAFF, "/排查 每天 每日健康排查 10:00-18:00 范围 幸福社区/第一网格", group_id=WORK
        )
        assert "每天 10:00 发起，18:00 截止" in sent.text and "11-30 10:00" in sent.text
        (daily,) = await items(street)
        assert daily.kind == "checkin.daily_open"
        assert daily.due_at == datetime(2026, 11, 30, 10, 0, tzinfo=SHANGHAI)

        clock.advance(hours=1, seconds=5)
        # fire() awaits the sends, which wait for the peer's answers: run it aside.
        firing = asyncio.create_task(sched.fire(daily.id))
        announce = await peer.expect_send()
        assert await firing
        assert announce.target == f"group:{WORK}" and "今日排查已发起：#1" in announce.text
        async with street.db.read() as s:
            rnd = (await s.exec(select(CheckinRound))).one()
        assert rnd.recurring_id == 1
        assert rnd.deadline == datetime(2026, 11, 30, 18, 0, tzinfo=SHANGHAI)
        queued = {(i.kind, i.due_at.astimezone(SHANGHAI).strftime("%m-%d %H:%M"), i.state)
                  for i in await items(street)}
        assert queued == {
            ("checkin.daily_open", "11-30 10:00", "done"),
            ("checkin.daily_open", "12-01 10:00", "pending"),
            ("checkin.remind", "11-30 16:24", "pending"),
            ("checkin.deadline", "11-30 18:00", "pending"),
        }

        # Deadline: summary to the work group (no 数据统计排查组 group bound), round closed.
        clock.at = datetime(2026, 11, 30, 18, 0, tzinfo=SHANGHAI)
        deadline = next(i for i in await items(street) if i.kind == "checkin.deadline")
        firing = asyncio.create_task(sched.fire(deadline.id))
        summary = await peer.expect_send()
        assert await firing
        assert summary.target == f"group:{WORK}" and summary.text.startswith("【截止汇总】#1")
        async with street.db.read() as s:
            assert (await s.get(CheckinRound, rnd.id)).state == "closed"
        # Closing cancelled the (unfired) reminder: a late timer cannot send it.
        remind = next(i for i in await items(street) if i.kind == "checkin.remind")
        assert remind.state == "cancelled"
        assert not await sched.fire(remind.id)
        await peer.no_action()

        # At start, a definition without a queued opening gets one (crash recovery).
        async with street.db.write() as s:
            for item in await items(street):
                if item.kind == "checkin.daily_open" and item.state == "pending":
                    item.state = "missed"
                    s.add(item)
        await sched.start()
        pending = [i for i in await items(street)
                   if i.kind == "checkin.daily_open" and i.state == "pending"]
        assert [p.due_at.astimezone(SHANGHAI).strftime("%m-%d %H:%M") for p in pending] == [
            "12-01 10:00"
        ]
        sent = await peer.ask(STAFF, "/排查 每天 停止 1", group_id=WORK)
        assert "已停止每日排查" in sent.text
        assert [i.state for i in await items(street) if i.id == pending[0].id] == ["cancelled"]
    finally:
        await sched.stop()


def test_loaded_plugins_declare_the_checkin_kinds() -> None:
    """bot.app.setup builds its scheduler from these declarations."""
    from bot.scheduler import declared_hooks
    from plugins.checkin import jobs

    hooks = declared_hooks()
    for kind in ("checkin.remind", "checkin.deadline", "checkin.daily_open"):
        assert hooks.handlers[kind] is jobs.HOOKS.handlers[kind]
    assert jobs.ensure_daily in hooks.on_start


async def test_a_reminder_is_settled_with_the_pushes_it_queued(
    peer: OneBotPeer, street: Runtime
) -> None:
    """The item turns done in the handler's own transaction: a crash right after
    it cannot make a restart report the reminder as interrupted (maybe sent)."""
    from plugins.checkin import jobs
    from storage.models_outbox import OutboxItem

    await peer.ask(STAFF, "/绑定群 幸福社区/第一网格 工作群", group_id=WORK)
    sched = Scheduler.from_hooks(street, jobs.HOOKS)
    street.scheduler = sched
    await sched.start()
    try:
        from bot.app import attach_outbox

        attach_outbox(street)  # attached, not started: pushes stay queued
        opened = await open_round(street, 2)
        remind = opened.items[0]
        async with street.db.write() as s:  # as _fire leaves it while the handler runs
            row = await s.get(ScheduledItem, remind.id)
            row.state = "claimed"
            s.add(row)
        await jobs.on_remind(street, row)
        async with street.db.read() as s:
            assert (await s.get(ScheduledItem, remind.id)).state == "done"
            queued = (await s.exec(select(OutboxItem))).all()
        assert queued and all(q.text.startswith("【排查提醒】") for q in queued)
    finally:
        await sched.stop()
