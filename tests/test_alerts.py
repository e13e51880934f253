"""The trigger chain (/预警, /收到) end to end over the real OneBot v11 WebSocket and
the real outbox: the 2-hour acknowledgement with its reminder, a missed
acknowledgement escalated to the 综合协调组 (after a restart, within the grace),
the 48-hour round ``来自<地区>人员排查`` with its 80 % reminder, deadline summary
and escalation — each exactly once. Bad input and refusals write nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlmodel import select

from bot.runtime import Runtime
from bot.scheduler import Scheduler, merge_hooks
from ground.timeutil import SHANGHAI, local
from storage.models import CheckinRound, ScheduledItem
from storage.models_deadlines import Alert, AlertAck
from storage.models_outbox import OutboxItem
from tests.conftest import dump_db
from tests.helpers import (
    ask_expecting,
    audit_trail,
    freeze_clock,
    register_groups,
    restart,
    run_due,
    running_at,
    start_scheduler,
)
from tests.onebot import OneBotPeer, Sent

# Plugin modules are imported inside tests: NoneBot must be initialised first.

ADMIN, LI = 10001, 10002  # 张主任 (管理员, 综合协调组), 李干事 (数据统计排查组)
LEADER_11, LEADER_31 = 30011, 30031  # 李秀英 (1栋1单元), 吴静 (3栋1单元)
RESIDENT_USER = 55555
W1, W2 = 770001, 770002  # work groups of 第一网格, 第二网格
COORD, STATS = 770003, 770004  # 综合协调组, 数据统计排查组


def hooks():
    from plugins.alerts import jobs as alert_jobs
    from plugins.checkin import jobs as checkin_jobs
    from plugins.reminders import jobs as reminder_jobs

    return merge_hooks(checkin_jobs.HOOKS, reminder_jobs.HOOKS, alert_jobs.HOOKS)


async def start(rt: Runtime) -> Scheduler:
    return await start_scheduler(rt, hooks())


async def bind(peer: OneBotPeer) -> None:
    await register_groups(peer, ADMIN, (
        (W1, "幸福社区/第一网格 工作群"), (W2, "幸福社区/第二网格 工作群"),
        (COORD, "全部 综合协调组"), (STATS, "全部 数据统计排查组"),
    ))


async def collect(peer: OneBotPeer, n: int) -> dict[str, Sent]:
    sends = [await peer.expect_send() for _ in range(n)]
    by_target = {s.target: s for s in sends}
    assert len(by_target) == n, [s.target for s in sends]
    return by_target


async def item(rt: Runtime, kind: str) -> ScheduledItem:
    async with rt.db.read() as s:
        return (await s.exec(select(ScheduledItem).where(ScheduledItem.kind == kind))).one()


async def test_trigger_chain_end_to_end(peer: OneBotPeer, street: Runtime, outbox) -> None:
    t0 = datetime(2031, 3, 3, 10, 0, tzinfo=SHANGHAI)
    clock, sched = await running_at(street, t0, bind(peer), start)

    # Start: the reply in the 综合协调组, the notice with the ack request in each work group.
    await peer.group_message(ADMIN, COORD, "/预警 成都市")
    got = await collect(peer, 3)
    reply = got[f"group:{COORD}"].text
    assert reply.startswith("已启动预警 #1（来自成都市）")
    assert "已通知 2 个工作群，须在 03-03 12:00 前回复 /收到 1" in reply
    assert (
        "已发起排查 #1「来自成都市人员排查」：全部 7 个单元（登记138户），03-05 10:00 截止"
    ) in reply
    for gid in (W1, W2):
        notice = got[f"group:{gid}"].text
        assert notice.startswith("【疫情预警 #1】来自成都市人员排查已启动")
        assert "请本群在 03-03 12:00 前回复：/收到 1" in notice
        assert "排查 #1「来自成都市人员排查」覆盖全部 7 个单元，03-05 10:00 截止" in notice
    await peer.no_action(0.3)
    async with street.db.read() as s:
        rnd = (await s.exec(select(CheckinRound))).one()
        assert (rnd.title, rnd.scope_kind, local(rnd.deadline)) == (
            "来自成都市人员排查", "all", t0 + timedelta(hours=48)
        )
    due = {i.kind: local(i.due_at).strftime("%m-%d %H:%M") for i in await all_items(street)}
    assert due == {
        "alert.ack_remind": "03-03 11:30", "alert.ack_deadline": "03-03 12:00",
        "alert.round_deadline": "03-05 10:00", "checkin.remind": "03-05 00:24",
        "checkin.deadline": "03-05 10:00",
    }
    assert len(sched.aps.get_jobs()) == 5

    # 第一网格 acknowledges (a unit leader in its work group); a second /收到 changes nothing.
    clock.at = t0 + timedelta(minutes=12)
    acked = await peer.ask(LEADER_11, "/收到 1", group_id=W1)
    assert acked.text == (
        "已确认：本群收到预警 #1（来自成都市），用时 12 分钟。\n还有 1/2 个工作群未确认。"
    )
    before = dump_db(street)
    again = await peer.ask(LEADER_11, "/收到", group_id=W1)
    assert "本群没有待确认的预警" in again.text
    again = await peer.ask(ADMIN, "/收到 1", group_id=W1)
    assert "本群已于 03-03 10:12 确认过预警 #1" in again.text
    assert dump_db(street) == before

    # +1 h 30 min: the silent 第二网格 is reminded, once; 第一网格 hears nothing.
    clock.at = t0 + timedelta(minutes=90)
    remind = await item(street, "alert.ack_remind")
    assert await run_due(sched, remind.id) is True
    nudge = await peer.expect_send()
    assert nudge.target == f"group:{W2}"
    assert nudge.text.startswith("【预警提醒】本群还没有确认预警 #1（来自成都市）")
    assert "还剩 30 分钟" in nudge.text
    assert await sched.fire(remind.id) is False
    await peer.no_action(0.3)

    # The bot is down over the 2-hour mark and back 10 minutes later (within the grace):
    # the escalation goes to the 综合协调组 once, marked 补发.
    sched = await restart(sched, start, clock, t0 + timedelta(hours=2, minutes=10))
    escalated = await peer.expect_send()
    assert escalated.target == f"group:{COORD}"
    assert escalated.text.startswith(
        "【预警升级】预警 #1（来自成都市）已超过2小时确认时限（03-03 12:00），"
        "1/2 个工作群未确认（补发）"
    )
    assert "· 幸福社区/第二网格 工作群" in escalated.text and "第一网格" not in escalated.text
    await peer.no_action(0.5)
    deadline = await item(street, "alert.ack_deadline")
    assert (deadline.state, deadline.late, deadline.attempts) == ("done", True, 1)
    assert await sched.fire(deadline.id) is False

    # 第二网格 acknowledges late; the 综合协调组 hears that all have.
    await peer.group_message(LEADER_31, W2, "/收到 1")
    got = await collect(peer, 2)
    assert got[f"group:{W2}"].text.startswith(
        "已确认：本群收到预警 #1（来自成都市），用时 130 分钟（已超过2小时时限）。"
    )
    assert "全部 2 个工作群都已确认" in got[f"group:{W2}"].text
    assert got[f"group:{COORD}"].text == "【预警 #1】全部 2 个工作群都已确认收到（来自成都市）。"

    # The round: one unit reports, the 80 % reminder @-mentions the others' leaders.
    sent = await peer.ask(LEADER_11, "/打卡 #1 已排查18户 返区2 隔离1", group_id=W1)
    assert sent.text.startswith("1栋1单元：")
    clock.at = t0 + timedelta(hours=38, minutes=24)
    round_remind = await item(street, "checkin.remind")
    assert await run_due(sched, round_remind.id) is True
    got = await collect(peer, 2)
    assert got[f"group:{W1}"].text.startswith("【排查提醒】#1「来自成都市人员排查」")
    assert "1栋1单元" not in got[f"group:{W1}"].text
    assert got[f"group:{W1}"].ats == ["30012", "20001", "30021", "20002"]
    assert got[f"group:{W2}"].ats == ["30031", "20003", "30032"]
    assert await sched.fire(round_remind.id) is False
    await peer.no_action(0.3)

    # +48 h: the staff summary (数据统计排查组) and the escalation to the 综合协调组.
    clock.at = t0 + timedelta(hours=48)
    for kind in ("checkin.deadline", "alert.round_deadline"):
        assert await run_due(sched, (await item(street, kind)).id) is True
    got = await collect(peer, 2)
    assert got[f"group:{STATS}"].text.startswith("【截止汇总】#1「来自成都市人员排查」")
    overdue = got[f"group:{COORD}"].text
    assert overdue.startswith(
        "【预警排查逾期】预警 #1（来自成都市）的排查 #1「来自成都市人员排查」已到48小时时限"
        "（03-05 10:00），6/7 个单元未打卡"
    )
    assert "· 幸福社区/1栋2单元：赵志强（单元长）、王建国（楼长）" in overdue
    assert "· 幸福社区/4栋1单元：未登记负责人" in overdue
    for kind in ("checkin.deadline", "alert.round_deadline"):
        assert await sched.fire((await item(street, kind)).id) is False
    await peer.no_action(0.5)

    # Another restart sends nothing more; everything fired exactly once.
    sched = await restart(sched, start)
    await peer.no_action(0.5)
    await sched.stop()
    rows = {i.kind: (i.state, i.attempts) for i in await all_items(street)}
    assert rows == {kind: ("done", 1) for kind in rows} and len(rows) == 5
    async with street.db.read() as s:
        outbox_rows = (await s.exec(
            select(OutboxItem.target, OutboxItem.text).where(
                OutboxItem.source == "alert:1").order_by(OutboxItem.id)
        )).all()
        acks = (await s.exec(select(AlertAck).order_by(AlertAck.chat_group_id))).all()
        alert = await s.get(Alert, 1)
    audit = await audit_trail(street, "alert_")
    heads = [(t, text.split("】")[0] + "】") for t, text in outbox_rows]
    assert heads == [
        (str(W1), "【疫情预警 #1】"), (str(W2), "【疫情预警 #1】"), (str(W2), "【预警提醒】"),
        (str(COORD), "【预警升级】"), (str(COORD), "【预警 #1】"), (str(COORD), "【预警排查逾期】"),
    ]
    assert [(a.label, a.ack_minutes, a.acked_by) for a in acks] == [
        ("幸福社区/第一网格 工作群", 12, "qq:30011"), ("幸福社区/第二网格 工作群", 130, "qq:30031")
    ]
    assert alert is not None and alert.escalated_at is not None and alert.round_id == 1
    assert [a for a, _ in audit] == ["alert_start", "alert_ack", "alert_ack"]


async def all_items(rt: Runtime) -> list[ScheduledItem]:
    async with rt.db.read() as s:
        return list((await s.exec(select(ScheduledItem).order_by(ScheduledItem.id))).all())


@pytest.fixture
async def sched(peer: OneBotPeer, street: Runtime, outbox, scheduler_stopped) -> Scheduler:
    """The groups bound, the clock frozen at 2031-03-03 10:00 and a scheduler started;
    the last one started is stopped when the test ends."""
    _, started = await running_at(street, datetime(2031, 3, 3, 10, 0, tzinfo=SHANGHAI),
                                  bind(peer), start)
    return started


async def test_all_acknowledged_cancels_reminder_and_escalation(
    peer: OneBotPeer, street: Runtime, sched: Scheduler
) -> None:
    # Typed in a work group: the reply and that group's own notice there, the
    # notice in the other, the information in the 综合协调组.
    await peer.group_message(LI, W1, "/预警 武汉市")
    received = [await peer.expect_send() for _ in range(4)]
    info = [s.text for s in received if s.target == f"group:{COORD}"]
    groups = "幸福社区/第一网格 工作群、幸福社区/第二网格 工作群"
    assert f"须确认的工作群（2个）：{groups}" in info[0]
    assert "/收到" not in info[0]  # the 综合协调组 follows, it does not acknowledge
    sends = sorted((s.target, s.text[:8]) for s in received)
    assert sends == sorted([
        (f"group:{W1}", "已启动预警 #1"), (f"group:{W1}", "【疫情预警 #1"),
        (f"group:{W2}", "【疫情预警 #1"), (f"group:{COORD}", "【疫情预警 #1"),
    ])
    await peer.no_action(0.5)
    for gid, user in ((W1, LEADER_11), (W2, LEADER_31)):
        await peer.group_message(user, gid, "/收到")  # the one alert the group owes
    sends = [await peer.expect_send() for _ in range(3)]
    assert sum("已确认：本群收到预警 #1" in s.text for s in sends) == 2
    assert any(s.target == f"group:{COORD}" and "全部 2 个工作群都已确认" in s.text
               for s in sends)
    states = {i.kind: i.state for i in await all_items(street)}
    assert states["alert.ack_remind"] == states["alert.ack_deadline"] == "cancelled"
    assert states["alert.round_deadline"] == "pending"
    ids = {j.id.split(":")[0] for j in sched.aps.get_jobs()}
    assert ids == {"alert.round_deadline", "checkin.remind", "checkin.deadline"}
    await peer.no_action(0.3)


async def test_bad_input_and_refusals_write_nothing(
    peer: OneBotPeer, street: Runtime, outbox
) -> None:
    refused = street.renderer.render("common/refused")
    usage = street.renderer.render("usage/alert")
    ack_usage = street.renderer.render("usage/alert_ack")
    freeze_clock(street, datetime(2031, 3, 3, 10, 0, tzinfo=SHANGHAI))
    # No work group bound yet: nobody to alert, nothing written.
    before = dump_db(street)
    sent = await peer.ask(ADMIN, "/预警 成都市")
    assert "还没有登记任何工作群" in sent.text
    assert dump_db(street) == before
    await bind(peer)
    before = dump_db(street)
    for user, group, text, expect in [
        (ADMIN, COORD, "/预警", usage),
        (ADMIN, COORD, "/预警 123", usage),
        (ADMIN, COORD, "/预警 成都市/3栋", usage),
        (ADMIN, COORD, "/预警 3栋2单元", usage),
        (ADMIN, COORD, "/预警 三号楼", usage),
        (ADMIN, COORD, "/预警 " + "很长的地名" * 5, usage),
        (LEADER_11, W1, "/预警 成都市", refused),  # leaders are not staff
        (RESIDENT_USER, W1, "/预警 成都市", refused),
        (RESIDENT_USER, W1, "/收到 1", refused),
        (LEADER_11, W1, "/收到 abc", ack_usage),
        (LEADER_11, W1, "/收到 9", "没有编号为 9 的预警"),
        (ADMIN, COORD, "/收到 1", "需要在登记过的工作群里发送"),
        (ADMIN, None, "/收到 1", "需要在登记过的工作群里发送"),
        (LEADER_11, W1, "/收到", "本群没有待确认的预警"),
    ]:
        sent, expect = await ask_expecting(peer, street.renderer, user, text, expect, group)
        assert sent.text == expect or expect in sent.text, (text, sent.text)
        assert dump_db(street) == before, text
    await peer.no_action(0.3)


async def test_escalation_missed_beyond_the_grace_is_reported_not_sprayed(
    peer: OneBotPeer, street: Runtime, sched: Scheduler
) -> None:
    await peer.group_message(ADMIN, COORD, "/预警 成都市")
    await collect(peer, 3)
    await peer.no_action(0.3)
    # Down from 10:00 to 13:00.
    sched = await restart(sched, start, street.clock, datetime(2031, 3, 3, 13, 0, tzinfo=SHANGHAI))
    report = await peer.expect_send()
    assert report.target == f"group:{COORD}"
    assert report.text.startswith("【漏发提醒】机器人停机期间，以下 2 项定时消息已超过补发时限")
    assert "· 预警 #1（来自成都市）未确认工作群的提醒，原定 03-03 11:30" in report.text
    assert "· 预警 #1（来自成都市）2小时确认时限检查（未确认的群需上报），原定 03-03 12:00" in (
        report.text
    )
    await peer.no_action(0.5)  # nothing to the work groups
    states = {i.kind: i.state for i in await all_items(street)}
    assert states["alert.ack_remind"] == states["alert.ack_deadline"] == "missed"
