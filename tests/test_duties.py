"""Recurring duties (/任务 /完成) over the real OneBot v11 WebSocket, the real outbox
and the scheduling core: an occurrence is created at its time and announced in
the closest work group, /完成 is recorded per unit, the laggards' leaders are
@-mentioned once the same day, and the next occurrence is always queued.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlmodel import col, select

from bot.runtime import Runtime
from bot.scheduler import Scheduler
from ground.timeutil import SHANGHAI, local
from storage.models import AuditLog, ScheduledItem
from storage.models_events import DutyOccurrence, DutyUnit
from tests.conftest import dump_db
from tests.helpers import (
    ask_expecting,
    fire_due,
    freeze_clock,
    outbox_settled,
    register_groups,
    scheduled_items,
)
from tests.onebot import OneBotPeer

# Plugin modules are imported inside tests: NoneBot must be initialised first.

ADMIN, LI = 10001, 10002  # 张主任 (管理员), 李干事 (工作人员)
WU, ZHENG, LIU = 30031, 30032, 20003  # 3栋: 1单元长 吴静, 2单元长 郑磊, 楼长 刘洋
LI_XIU = 30011  # 李秀英, 单元长 of 1栋1单元
RESIDENT_USER = 55555
WORK = 770000  # 幸福社区 工作群
GRID2 = 770002  # 幸福社区/第二网格 工作群: closest to 3栋
RESIDENT = 770101


async def bind_groups(peer: OneBotPeer) -> None:
    await register_groups(peer, ADMIN, [
        (WORK, "幸福社区 工作群"), (GRID2, "幸福社区/第二网格 工作群"),
        (RESIDENT, "幸福社区/3栋 居民群"),
    ])


async def duty_items(rt: Runtime, kind: str) -> list[ScheduledItem]:
    return await scheduled_items(rt, kind, by_due=True)


def when(item: ScheduledItem) -> str:
    return local(item.due_at).strftime("%m-%d %H:%M")


async def test_occurrence_done_and_laggards_reminded_once(
    peer: OneBotPeer, street: Runtime, outbox
) -> None:
    from plugins.duties import jobs

    await bind_groups(peer)
    clock = freeze_clock(street, datetime(2026, 11, 30, 8, 0, tzinfo=SHANGHAI), outbox)
    sched = Scheduler.from_hooks(street, jobs.HOOKS)  # not started: the test fires items
    street.scheduler = sched

    created = await peer.ask(LI, "/任务 楼道消杀 每天 09:00 3栋", group_id=WORK)
    assert "已创建任务 #1「楼道消杀」：每天 09:00，范围 幸福社区/3栋（2 个单元）" in created.text
    assert "首次：11-30 09:00" in created.text and "4 小时后" in created.text
    [occur] = await duty_items(street, "duty.occur")
    assert when(occur) == "11-30 09:00"

    # 09:00: the occurrence, announced in the closest work group only.
    assert await fire_due(sched, clock, occur) is True
    announced = await peer.expect_send()
    await peer.no_action(0.3)
    assert announced.target == f"group:{GRID2}" and announced.ats == []
    assert announced.text.startswith(
        "【任务】#1「楼道消杀」（每天 09:00）11-30 09:00 开始，范围 幸福社区/3栋，共 2 个单元：\n"
        "3栋1、2单元\n"
    )
    assert "/完成 1" in announced.text and "11-30 13:00 仍未完成的单元将被提醒" in announced.text
    assert [(when(i), i.state) for i in await duty_items(street, "duty.occur")] == [
        ("11-30 09:00", "done"), ("12-01 09:00", "pending")
    ]
    [chase] = await duty_items(street, "duty.chase")
    assert when(chase) == "11-30 13:00"

    # 吴静 reports her unit; a second report changes nothing.
    clock.at = datetime(2026, 11, 30, 10, 30, tzinfo=SHANGHAI)
    done = await peer.ask(WU, "/完成 1", group_id=GRID2)
    assert "已登记任务 #1「楼道消杀」完成：3栋1单元。" in done.text
    assert "本次（11-30 09:00 开始）已完成 1/2 个单元" in done.text
    await outbox_settled(street)
    before = dump_db(street)
    again = await peer.ask(WU, "/完成 #1")
    assert "3栋1单元 已经登记过完成任务 #1" in again.text
    assert dump_db(street) == before

    # 13:00: only the laggard unit's leaders are @-mentioned, in its closest work group, once.
    assert await fire_due(sched, clock, chase) is True
    reminded = await peer.expect_send()
    await peer.no_action(0.3)
    assert reminded.target == f"group:{GRID2}"
    assert sorted(reminded.ats) == sorted([str(ZHENG), str(LIU)])
    assert reminded.text.startswith(
        "【任务提醒】#1「楼道消杀」（11-30 09:00 开始）还有 1/2 个单元未完成："
    )
    assert "3栋2单元：郑磊（单元长）、刘洋（楼长）" in reminded.text
    assert "3栋1单元" not in reminded.text and "/完成 1" in reminded.text
    assert await sched.fire(chase.id) is False  # once

    async with street.db.read() as s:
        units = (await s.exec(select(DutyUnit).order_by(DutyUnit.unit_id))).all()
    assert [(u.unit_id, u.done_by) for u in units] == [(5, f"qq:{WU}"), (6, None)]

    # The next day: a new occurrence; the building leader does both units at once,
    # so nobody is chased.
    nxt = (await duty_items(street, "duty.occur"))[1]
    assert await fire_due(sched, clock, nxt) is True
    announced = await peer.expect_send()
    assert announced.text.startswith("【任务】#1「楼道消杀」（每天 09:00）12-01 09:00")
    done = await peer.ask(LIU, "/完成 1")
    assert "完成：3栋1单元、3栋2单元" in done.text and "已完成 2/2 个单元" in done.text
    second_chase = (await duty_items(street, "duty.chase"))[1]
    assert await fire_due(sched, clock, second_chase) is True
    await peer.no_action(0.5)
    async with street.db.read() as s:
        occurrences = (await s.exec(select(DutyOccurrence).order_by(DutyOccurrence.id))).all()
        audit = (await s.exec(select(AuditLog.detail).where(
            col(AuditLog.action) == "duty_done").order_by(AuditLog.id))).all()
    assert [local(o.starts_at).strftime("%m-%d %H:%M") for o in occurrences] == [
        "11-30 09:00", "12-01 09:00"
    ]
    assert list(audit) == ["#1 occurrence=1 units=5", "#1 occurrence=2 units=5,6"]
    assert when((await duty_items(street, "duty.occur"))[-1]) == "12-02 09:00"
    # Nothing of it reached the resident group.
    assert all(f["params"].get("group_id") != RESIDENT for f in peer.actions[3:])


def test_next_start_and_chase_deadline() -> None:
    from plugins.duties.service import chase_due, next_start

    def at(*args) -> datetime:
        return datetime(*args, tzinfo=SHANGHAI)

    def nxt(kind: str, arg: int, minute: int, after: datetime) -> datetime:
        return local(next_start(kind, arg, minute, after))

    monday_10 = at(2026, 11, 30, 10, 0)
    assert nxt("daily", 0, 9 * 60, monday_10) == at(2026, 12, 1, 9, 0)
    assert nxt("daily", 0, 11 * 60, monday_10) == at(2026, 11, 30, 11, 0)
    assert nxt("daily", 0, 10 * 60, monday_10) == at(2026, 12, 1, 10, 0)  # strictly after
    assert nxt("weekly", 0, 9 * 60, monday_10) == at(2026, 12, 7, 9, 0)
    assert nxt("weekly", 0, 15 * 60, monday_10) == at(2026, 11, 30, 15, 0)
    assert nxt("weekly", 2, 9 * 60, monday_10) == at(2026, 12, 2, 9, 0)
    assert nxt("weekly", 6, 9 * 60, monday_10) == at(2026, 12, 6, 9, 0)
    assert nxt("monthly", 1, 9 * 60, monday_10) == at(2026, 12, 1, 9, 0)
    assert nxt("monthly", 30, 9 * 60, monday_10) == at(2026, 12, 30, 9, 0)
    assert nxt("monthly", 31, 9 * 60, at(2027, 1, 31, 10, 0)) == at(2027, 2, 28, 9, 0)
    assert nxt("monthly", 31, 9 * 60, at(2027, 12, 31, 9, 0)) == at(2028, 1, 31, 9, 0)
    # Whatever the host clock's zone: times are Shanghai's.
    assert nxt("daily", 0, 9 * 60, datetime(2026, 11, 30, 0, 30, tzinfo=UTC)) == at(
        2026, 11, 30, 9, 0
    )
    assert nxt("daily", 0, 9 * 60, datetime(2026, 11, 30, 1, 30, tzinfo=UTC)) == at(
        2026, 12, 1, 9, 0
    )
    assert local(chase_due(at(2026, 11, 30, 9, 0), 4)) == at(2026, 11, 30, 13, 0)
    assert local(chase_due(at(2026, 11, 30, 21, 0), 4)) == at(2026, 11, 30, 23, 59)
    assert local(chase_due(at(2026, 11, 30, 9, 0), 0.5)) == at(2026, 11, 30, 9, 30)


async def test_list_stop_and_restart(peer: OneBotPeer, street: Runtime) -> None:
    from plugins.duties import jobs

    freeze_clock(street, datetime(2026, 11, 30, 10, 0, tzinfo=SHANGHAI))
    first = await peer.ask(LI, "/任务 应急演练 每周三 15:00 范围 幸福社区/第一网格")
    assert "#1「应急演练」：每周三 15:00，范围 幸福社区/第一网格（4 个单元）" in first.text
    assert "首次：12-02 15:00" in first.text
    second = await peer.ask(LI, "/任务 全面消杀 每月1日 08:30")
    assert "#2「全面消杀」：每月1日 08:30，范围 全部（7 个单元）" in second.text
    listed = await peer.ask(ADMIN, "/任务 列表")
    assert "定期任务（2项）" in listed.text
    assert "#1「应急演练」每周三 15:00，范围 幸福社区/第一网格；下次 12-02 15:00" in listed.text
    assert "#2「全面消杀」每月1日 08:30，范围 全部；下次 12-01 08:30" in listed.text

    stopped = await peer.ask(LI, "/任务 停止 1")
    assert "已停止任务 #1「应急演练」（每周三 15:00）" in stopped.text
    assert [i.state for i in await duty_items(street, "duty.occur") if i.ref_id == 1] == [
        "cancelled"
    ]
    assert "#1" not in (await peer.ask(ADMIN, "/任务 列表")).text
    assert "没有编号为 1 的任务" in (await peer.ask(LI, "/任务 停止 1")).text

    # At start, an active duty whose next item went missing gets it back; a stopped one not.
    async with street.db.write() as s:
        for item in (await s.exec(select(ScheduledItem).where(
                ScheduledItem.kind == "duty.occur"))).all():
            item.state = "missed"
            s.add(item)
    sched = Scheduler.from_hooks(street, jobs.HOOKS)
    await jobs.ensure_occurrences(street, sched)
    await jobs.ensure_occurrences(street, sched)  # idempotent
    pending = [(i.ref_id, when(i)) for i in await duty_items(street, "duty.occur")
               if i.state == "pending"]
    assert pending == [(2, "12-01 08:30")]


async def test_bad_input_and_refusals_change_nothing(peer: OneBotPeer, street: Runtime) -> None:
    await bind_groups(peer)
    clock = freeze_clock(street, datetime(2026, 11, 30, 8, 0, tzinfo=SHANGHAI))
    created = await peer.ask(LI, "/任务 楼道消杀 每天 09:00 幸福社区/3栋")
    assert "已创建任务 #1" in created.text
    render = street.renderer.render
    usage, done_usage = render("usage/duty"), render("usage/duty_done")
    before = dump_db(street)
    for user, text, expect, group in [
        (LI, "/任务", usage, None),
        (LI, "/任务 消杀", usage, None),
        (LI, "/任务 消杀 每天", usage, None),
        (LI, "/任务 消杀 每周八 09:00", usage, None),
        (LI, "/任务 消杀 每月32日 09:00", usage, None),
        (LI, "/任务 消杀 每天 25:00", usage, None),
        (LI, "/任务 消杀 每天 9点", usage, None),
        (LI, "/任务 消杀 每天 09:00 范围", usage, None),
        (LI, "/任务 消杀 每天 09:00 火星/基地", usage, None),
        (LI, "/任务 列表 全部", usage, None),
        (LI, "/任务 列表 每天 09:00", usage, None),
        (LI, "/任务 " + "消" * 21 + " 每天 09:00", usage, None),
        (LI, "/任务 消杀 每天 23:00", "23:00 在夜间免打扰时段（22:00-07:00）内", None),
        (LI, "/任务 消杀 每天 09:00 幸福社区/9栋", "没有找到楼栋“9栋”", None),
        (LI, "/任务 消杀 每天 09:00 8栋", "没有找到楼栋“8栋”", WORK),
        (LI, "/任务 停止 9", "没有编号为 9 的任务", None),
        (WU, "/完成", done_usage, None),
        (WU, "/完成 一", done_usage, None),
        (WU, "/完成 1 3栋", done_usage, None),
        (WU, "/完成 9", "没有编号为 9 的任务", None),
        (WU, "/完成 1", "任务 #1 还没有开始，首次为 11-30 09:00", None),
    ]:
        sent, expect = await ask_expecting(peer, street.renderer, user, text, expect, group)
        assert sent.text == expect or expect in sent.text, (text, sent.text)
    assert dump_db(street) == before
    refused = render("common/refused")
    for user, text in [
        (RESIDENT_USER, "/任务 消杀 每天 09:00"),
        (RESIDENT_USER, "/任务 列表"),
        (WU, "/任务 消杀 每天 09:00"),  # leaders check in, staff define duties
        (LIU, "/任务 停止 1"),
        (RESIDENT_USER, "/完成 1"),
    ]:
        sent = await peer.ask(user, text)
        assert sent.text == refused, (user, text)
    assert dump_db(street) == before

    # Once started: check-ins for units one does not lead, or outside the duty, are refused.
    from plugins.duties import jobs

    sched = Scheduler.from_hooks(street, jobs.HOOKS)
    [occur] = await duty_items(street, "duty.occur")
    clock.at = local(occur.due_at)
    fired = asyncio.create_task(sched.fire(occur.id))
    announced = await peer.expect_send()  # no outbox here: sent at once
    assert await fired is True and announced.target == f"group:{GRID2}"
    before = dump_db(street)
    for user, text, expect in [
        (LI_XIU, "/完成 1", "任务 #1 的范围内没有您负责的单元"),
        (LI_XIU, "/完成 1 3栋2单元", "您不是 3栋2单元 的单元长或楼长"),
        (WU, "/完成 1 3栋2单元", "您不是 3栋2单元 的单元长或楼长"),
        (LI, "/完成 1", "请写明单元，例如：/完成 1 3栋2单元"),
        (LI, "/完成 1 1栋1单元", "1栋1单元 不在任务 #1 的范围内"),
        (LI, "/完成 1 9栋1单元", "没有找到楼栋“9栋”"),
    ]:
        sent = await peer.ask(user, text)
        assert expect in sent.text, (text, sent.text)
    assert dump_db(street) == before
    staff = await peer.ask(LI, "/完成 1 3-2")  # staff may check a unit in on its behalf
    assert "完成：3栋2单元" in staff.text and "已完成 1/2" in staff.text
