"""协查函 (/协查) over the real OneBot v11 WebSocket and the real outbox: the 24-hour
task for the 流调组 with reminders at +12/+20/+23 h (one sent late after a
restart), escalation to the 流调组 and staff when overdue, completion by a
流调组 member, each message once; bad input and refusals write nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import select

from bot.runtime import Runtime
from bot.scheduler import Scheduler, merge_hooks
from ground.timeutil import SHANGHAI
from storage.models import AuditLog, ScheduledItem
from storage.models_deadlines import AssistTask
from storage.models_outbox import OutboxItem
from tests.conftest import dump_db
from tests.helpers import (
    ask_expecting,
    audit_trail,
    bound_at,
    register_groups,
    restart,
    run_due,
    running_at,
    scheduled_items,
    start_scheduler,
)
from tests.onebot import OneBotPeer

# Plugin modules are imported inside tests: NoneBot must be initialised first.

ADMIN, LI = 10001, 10002  # 张主任 (管理员, 综合协调组), 李干事 (staff)
TRACER = 40001  # a 流调组 member who is not staff
LEADER = 30011
RESIDENT_USER = 55555
WORK, COORD, FLOW = 780001, 780002, 780003
LETTER = "川疾控协〔2031〕15号"


async def start(rt: Runtime) -> Scheduler:
    from plugins.assist import jobs as assist_jobs
    from plugins.reminders import jobs as reminder_jobs

    return await start_scheduler(rt, merge_hooks(reminder_jobs.HOOKS, assist_jobs.HOOKS))


async def bind(peer: OneBotPeer) -> None:
    await register_groups(
        peer, ADMIN, ((WORK, "幸福社区 工作群"), (COORD, "全部 综合协调组"), (FLOW, "全部 流调组"))
    )
    sent = await peer.ask(ADMIN, f"/任命 qq:{TRACER} 流调组")
    assert "流调组" in sent.text


async def items(rt: Runtime) -> list[ScheduledItem]:
    return await scheduled_items(rt, prefix="assist.", by_due=True)


async def test_assist_letter_reminders_escalation_and_completion(
    peer: OneBotPeer, street: Runtime, outbox
) -> None:
    t0 = datetime(2031, 3, 3, 9, 0, tzinfo=SHANGHAI)
    clock, sched = await running_at(street, t0, bind(peer), start)

    note = "核查2名密接人员活动轨迹，联系电话13812345678"
    await peer.group_message(LI, COORD, f"/协查 {LETTER} {note}")
    got = {s.target: s.text for s in [await peer.expect_send() for _ in range(2)]}
    assert got[f"group:{COORD}"].startswith(
        f"已登记协查函 {LETTER}（#1），须在 03-04 09:00 前完成。"
    )
    assert "已通知流调组群" in got[f"group:{COORD}"]
    new = got[f"group:{FLOW}"]
    assert new.startswith(f"【协查函】{LETTER}：核查2名密接人员活动轨迹，联系电话138****5678")
    assert "13812345678" not in new and f"/协查 完成 {LETTER}" in new
    await peer.no_action(0.3)
    schedule = [(i.kind, i.due_at - t0) for i in await items(street)]
    assert schedule == [
        ("assist.remind", timedelta(hours=12)), ("assist.remind", timedelta(hours=20)),
        ("assist.remind", timedelta(hours=23)), ("assist.overdue", timedelta(hours=24)),
    ]

    # +12 h and +20 h: to the 流调组 only, each once.
    for hours, left in ((12, 12), (20, 4)):
        clock.at = t0 + timedelta(hours=hours)
        reminder = next(i for i in await items(street) if i.due_at == clock.at)
        assert await run_due(sched, reminder.id) is True
        sent = await peer.expect_send()
        assert sent.target == f"group:{FLOW}"
        assert sent.text.startswith(
            f"【协查提醒】协查函 {LETTER} 还剩约 {left} 小时（03-04 09:00 截止）。"
        )
        assert await sched.fire(reminder.id) is False
        await peer.no_action(0.3)

    # Down over +23 h, back 5 minutes later: that reminder once, marked 补发.
    sched = await restart(sched, start, clock, t0 + timedelta(hours=23, minutes=5))
    late = await peer.expect_send()
    assert (late.target, late.text.splitlines()[0]) == (
        f"group:{FLOW}", f"【协查提醒】协查函 {LETTER} 还剩约 1 小时（03-04 09:00 截止）（补发）。"
    )
    await peer.no_action(0.5)

    # +24 h, not done: the 流调组 and staff (综合协调组), once.
    clock.at = t0 + timedelta(hours=24)
    overdue = (await items(street))[-1]
    assert await run_due(sched, overdue.id) is True
    got = {s.target: s.text for s in [await peer.expect_send() for _ in range(2)]}
    assert set(got) == {f"group:{FLOW}", f"group:{COORD}"}
    for text in got.values():
        assert text.startswith(
            f"【协查逾期】协查函 {LETTER} 已超过24小时时限（03-04 09:00），仍未登记完成。"
        )
    assert await sched.fire(overdue.id) is False
    await peer.no_action(0.3)

    # A 流调组 member (not staff) completes it in the 流调组 group; staff hear of it too,
    # since they were told it was late.
    clock.at = t0 + timedelta(hours=25, minutes=30)
    await peer.group_message(TRACER, FLOW, f"/协查 完成 {LETTER}")
    got = {s.target: s.text for s in [await peer.expect_send() for _ in range(2)]}
    assert got[f"group:{FLOW}"] == f"已登记完成：协查函 {LETTER}，逾期 1 小时 30 分钟。"
    assert got[f"group:{COORD}"] == f"协查函 {LETTER} 已完成（逾期 1 小时 30 分钟）。"
    again = await peer.ask(TRACER, f"/协查 完成 {LETTER}", group_id=FLOW)
    assert "已于 03-04 10:30 登记完成" in again.text
    listing = await peer.ask(LI, "/协查 列表")
    assert listing.text == "目前没有未完成的协查函。"
    await peer.no_action(0.3)
    await sched.stop()

    async with street.db.read() as s:
        task = (await s.exec(select(AssistTask))).one()
        pushed = (await s.exec(select(OutboxItem.target).where(
            OutboxItem.source == "assist:1").order_by(OutboxItem.id))).all()
    audit = await audit_trail(street, "assist_", AuditLog.actor)
    assert (task.state, task.done_by, task.escalated_at is not None) == ("done", "qq:40001", True)
    assert pushed == [str(FLOW)] * 4 + [str(FLOW), str(COORD)] + [str(COORD)]
    assert [tuple(a) for a in audit] == [("assist_create", "qq:10002"), ("assist_done", "qq:40001")]
    assert [(i.state, i.late) for i in await items(street)] == [
        ("done", False), ("done", False), ("done", True), ("done", False)
    ]


async def test_completion_in_time_cancels_the_pending_items(
    peer: OneBotPeer, street: Runtime, outbox, scheduler_stopped
) -> None:
    clock, sched = await running_at(street, datetime(2031, 3, 3, 9, 0, tzinfo=SHANGHAI),
                                    bind(peer), start)
    await peer.private_message(LI, "/协查 2031-88")
    [await peer.expect_send() for _ in range(2)]
    assert len(sched.aps.get_jobs()) == 4
    clock.at += timedelta(hours=3)
    done = await peer.ask(ADMIN, "/协查 完成 2031-88", group_id=COORD)
    assert done.text.startswith(
        "已登记完成：协查函 2031-88，在时限内。已取消 4 条尚未发送的提醒。"
    )
    notice = await peer.expect_send()
    assert (notice.target, notice.text) == (f"group:{FLOW}", "协查函 2031-88 已完成。")
    assert sched.aps.get_jobs() == []
    assert {i.state for i in await items(street)} == {"cancelled"}
    await peer.no_action(0.3)


async def test_bad_input_and_refusals_write_nothing(
    peer: OneBotPeer, street: Runtime, outbox
) -> None:
    await bound_at(street, datetime(2031, 3, 3, 9, 0, tzinfo=SHANGHAI), bind(peer))
    sent = await peer.ask(LI, "/协查 2031-1 首件", group_id=COORD)
    assert "已登记协查函 2031-1" in sent.text
    await peer.expect_send()  # its notice to the 流调组
    await peer.no_action(0.3)  # and the outbox has settled it
    usage = street.renderer.render("usage/assist")
    refused = street.renderer.render("common/refused")
    before = dump_db(street)
    for user, group, text, expect in [
        (LI, COORD, "/协查", usage),
        (LI, COORD, "/协查 完成", usage),
        (LI, COORD, "/协查 无编号函", usage),  # a 函号 has a digit
        (LI, COORD, "/协查 2031-2 " + "说" * 201, usage),
        (LI, COORD, "/协查 2031-1 重复", "已经登记过"),
        (LI, COORD, "/协查 完成 2031-999", "没有找到协查函 2031-999"),
        (TRACER, FLOW, "/协查 2031-3 流调组不能派", refused),  # the 流调组 completes, staff assign
        (LEADER, WORK, "/协查 2031-4", refused),
        (LEADER, WORK, "/协查 完成 2031-1", refused),
        (RESIDENT_USER, WORK, "/协查 列表", refused),
    ]:
        sent, expect = await ask_expecting(peer, street.renderer, user, text, expect, group)
        assert sent.text == expect or expect in sent.text, (text, sent.text)
        assert dump_db(street) == before, text
    await peer.no_action(0.3)
