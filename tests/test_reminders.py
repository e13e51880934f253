"""/提醒 over the real OneBot v11 WebSocket and the real outbox: sent once in the
group it was typed in; after a downtime sent late ("补发") within the grace, or
reported once to staff beyond it; private and daily reminders; bad input.

A "restart" is a new Scheduler on the same database (its state comes only from
the tables); a controllable clock, years ahead of the wall clock, decides what
is due, so no real timer fires unless the test means it to.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlmodel import select

from bot.runtime import Runtime
from bot.scheduler import Scheduler, merge_hooks
from ground.timeutil import SHANGHAI, local
from storage.models import AuditLog, ScheduledItem
from storage.models_deadlines import Reminder
from storage.models_outbox import OutboxItem
from tests.conftest import dump_db
from tests.helpers import (
    ask_expecting,
    bound_at,
    fire_due,
    register_groups,
    restart,
    running_at,
    scheduled_items,
    start_scheduler,
)
from tests.onebot import OneBotPeer, Sent

# Plugin modules are imported inside tests: NoneBot must be initialised first.

ADMIN, LI, WANG = 10001, 10002, 10003  # 张主任 (管理员, 综合协调组), 李干事, 王干事
LEADER, LEADER2 = 30011, 30012  # 李秀英, 赵志强 (单元长)
RESIDENT_USER = 55555  # no roles
WORK = 760001  # 幸福社区/第一网格 工作群
COORD = 760002  # 综合协调组
UNBOUND = 760003


def hooks():
    from plugins.reminders import jobs

    return merge_hooks(jobs.HOOKS)


async def bind(peer: OneBotPeer) -> None:
    await register_groups(
        peer, ADMIN, ((WORK, "幸福社区/第一网格 工作群"), (COORD, "全部 综合协调组"))
    )


async def reminder_items(rt: Runtime) -> list[ScheduledItem]:
    return await scheduled_items(rt, prefix="reminder.")


async def start(rt: Runtime) -> Scheduler:
    return await start_scheduler(rt, hooks())


async def test_group_reminder_once_late_after_restart_or_reported_when_too_old(
    peer: OneBotPeer, street: Runtime, outbox, scheduler_stopped
) -> None:
    clock, sched = await running_at(street, datetime(2031, 3, 3, 10, 0, tzinfo=SHANGHAI),
                                    bind(peer), start)

    sent = await peer.ask(LEADER, "/提醒 10:30 请各单元长上报今日排查", group_id=WORK)
    assert sent.target == f"group:{WORK}"
    assert sent.text.startswith("已设置提醒 #1：03-03 10:30 在本群提醒。")
    [item] = await reminder_items(street)
    assert local(item.due_at) == datetime(2031, 3, 3, 10, 30, tzinfo=SHANGHAI)
    assert [j.id for j in sched.aps.get_jobs()] == ["reminder.due:1:203103030230"]

    assert await fire_due(sched, clock, item) is True
    due = await peer.expect_send()
    assert (due.target, due.text) == (f"group:{WORK}", "【提醒 #1】请各单元长上报今日排查")
    assert await sched.fire(item.id) is False
    await peer.no_action(0.3)

    # Due while the bot is down, back 10 minutes later: sent once, marked 补发.
    sent = await peer.ask(LEADER, "/提醒 11:00 第二条：复核返区名单", group_id=WORK)
    assert "#2" in sent.text
    sched = await restart(sched, start, clock, datetime(2031, 3, 3, 11, 10, tzinfo=SHANGHAI))
    late = await peer.expect_send()
    assert late.target == f"group:{WORK}"
    assert late.text == (
        "【提醒 #2】第二条：复核返区名单\n（补发：原定 03-03 11:00，机器人当时不在线）"
    )
    await peer.no_action(0.5)
    sched = await restart(sched, start)  # and not again after another restart
    await peer.no_action(0.5)

    # Due while down for 2 h 30 min (beyond the 30-minute grace): not sprayed into the
    # work group, but listed once to the 综合协调组.
    sent = await peer.ask(LEADER, "/提醒 12:00 第三条", group_id=WORK)
    assert "#3" in sent.text
    sched = await restart(sched, start, clock, datetime(2031, 3, 3, 14, 30, tzinfo=SHANGHAI))
    report = await peer.expect_send()
    assert report.target == f"group:{COORD}"
    assert report.text.startswith("【漏发提醒】机器人停机期间，以下 1 项定时消息已超过补发时限")
    assert "提醒 #3（幸福社区/第一网格 工作群）：第三条，原定 03-03 12:00" in report.text
    await peer.no_action(0.5)
    sched = await restart(sched, start)
    await peer.no_action(0.5)
    listing = await peer.ask(LEADER, "/提醒 列表", group_id=WORK)
    assert listing.text == "本群目前没有待发送的提醒。"
    states = [(i.ref_id, i.state, i.late, i.attempts) for i in await reminder_items(street)]
    assert states == [(1, "done", False, 1), (2, "done", True, 1), (3, "missed", False, 0)]
    async with street.db.read() as s:
        outbox = (await s.exec(select(OutboxItem.source, OutboxItem.target))).all()
        audit = (await s.exec(select(AuditLog.action).where(
            AuditLog.action == "reminder_add"))).all()
    sources = sorted(src for src, _ in outbox if src.startswith(("reminder:", "scheduler:")))
    assert sources == ["reminder:1", "reminder:2", "scheduler:missed"]  # once each
    assert len(audit) == 3


async def test_private_daily_list_and_cancel(
    peer: OneBotPeer, street: Runtime, outbox, scheduler_stopped
) -> None:
    clock, sched = await running_at(street, datetime(2031, 3, 3, 10, 0, tzinfo=SHANGHAI),
                                    bind(peer), start)
    # In a private chat: to the one who asked, privately.
    sent = await peer.ask(LI, "/提醒 30分钟 复核3栋返区名单")
    assert sent.text.startswith("已设置提醒 #1：03-03 10:30 私聊提醒您。")
    # A group nobody bound runs only /帮助 and /绑定群: refused there, nothing set.
    sent = await peer.ask(LI, "/提醒 明天 9:00 例会", group_id=UNBOUND)
    assert sent.text == street.renderer.render("common/unbound_group")
    sent = await peer.ask(LI, "/提醒 明天 9:00 例会", group_id=COORD)
    assert "#2" in sent.text and "03-04 09:00 在本群提醒" in sent.text
    sent = await peer.ask(LEADER, "/提醒 每天 08:00 请测量体温并打卡", group_id=WORK)
    assert sent.text.startswith("已设置每日提醒 #3：每天 08:00 在本群提醒，首次 03-04 08:00。")

    listing = await peer.ask(LI, "/提醒 列表")
    assert "您的私聊提醒（1条）" in listing.text
    assert "#1 03-03 10:30：复核3栋返区名单" in listing.text
    listing = await peer.ask(LEADER2, "/提醒 列表", group_id=WORK)
    assert "#3 每天 08:00：请测量体温并打卡" in listing.text and "#1" not in listing.text

    by_ref = {i.ref_id: i for i in await reminder_items(street)}
    assert await fire_due(sched, clock, by_ref[1])
    private = await peer.expect_send()
    assert (private.target, private.text) == (f"private:{LI}", "【提醒 #1】复核3栋返区名单")
    # The daily one (03-04 08:00) comes first, on time; then 09:00's one-off.
    assert await fire_due(sched, clock, by_ref[3])
    daily = await peer.expect_send()
    assert daily.text == "【每日提醒 #3】请测量体温并打卡"
    assert await fire_due(sched, clock, by_ref[2])
    unbound = await peer.expect_send()
    assert (unbound.target, unbound.text) == (f"group:{COORD}", "【提醒 #2】例会")

    # After two days down, one catch-up (补发) only.
    sched = await restart(sched, start, clock, datetime(2031, 3, 7, 9, 30, tzinfo=SHANGHAI))
    catch_up = await peer.expect_send()
    assert catch_up.text == (
        "【每日提醒 #3】请测量体温并打卡\n（补发：原定 03-05 08:00，机器人当时不在线）"
    )
    await peer.no_action(0.5)
    daily_rows = [(local(i.due_at).strftime("%m-%d %H:%M"), i.state)
                  for i in await reminder_items(street) if i.kind == "reminder.daily"]
    assert daily_rows == [("03-04 08:00", "done"), ("03-05 08:00", "done"),
                          ("03-08 08:00", "pending")]
    assert "reminder.daily:3:203103080000" in {j.id for j in sched.aps.get_jobs()}

    # Only its author or staff may cancel; cancelling disarms it.
    before = dump_db(street)
    refused = await peer.ask(LEADER2, "/提醒 取消 3", group_id=WORK)
    assert "不是您设置的" in refused.text
    assert dump_db(street) == before
    done = await peer.ask(WANG, "/提醒 取消 #3", group_id=WORK)
    assert done.text == "已取消提醒 #3，不会再发送。"
    assert "reminder.daily:3:203103080000" not in {j.id for j in sched.aps.get_jobs()}
    assert (await reminder_items(street))[-1].state == "cancelled"
    again = await peer.ask(WANG, "/提醒 取消 3", group_id=WORK)
    assert "已经取消" in again.text
    # Someone else's private reminder does not exist for staff either.
    hidden = await peer.ask(ADMIN, "/提醒 取消 1")
    assert "没有编号为 1 的提醒" in hidden.text


async def test_bad_input_and_refusals_write_nothing(
    peer: OneBotPeer, street: Runtime, outbox
) -> None:
    await bound_at(street, datetime(2031, 3, 3, 10, 0, tzinfo=SHANGHAI), bind(peer))
    usage = street.renderer.render("usage/reminder")
    refused = street.renderer.render("common/refused")
    before = dump_db(street)
    for user, text, expect in [
        (LEADER, "/提醒", usage),
        (LEADER, "/提醒 开会", usage),
        (LEADER, "/提醒 18:00", usage),  # no content
        (LEADER, "/提醒 2-30 09:00 开会", usage),  # no such day
        (LEADER, "/提醒 13-01 09:00 开会", usage),
        (LEADER, "/提醒 25:00 开会", usage),
        (LEADER, "/提醒 18:61 开会", usage),
        (LEADER, "/提醒 每天 25:00 测温", usage),
        (LEADER, "/提醒 取消", usage),
        (LEADER, "/提醒 2031-03-02 09:00 昨天的会", "已经过去了"),
        (LEADER, "/提醒 2033-03-02 09:00 太远", "366 天以内"),
        (LEADER, "/提醒 取消 99", "没有编号为 99 的提醒"),
        (RESIDENT_USER, "/提醒 18:00 开会", refused),
        (RESIDENT_USER, "/提醒 列表", refused),
    ]:
        sent, expect = await ask_expecting(peer, street.renderer, user, text, expect, WORK)
        assert sent.text == expect or expect in sent.text, (text, sent.text)
        assert dump_db(street) == before, text
    past = await peer.ask(LEADER, "/提醒 2031-03-02 09:00 昨天的会", group_id=WORK)
    # One sentence naming the problem, not the usage block (issue 12).
    assert "/提醒" not in past.text.splitlines()[-1] and len(past.text.splitlines()) == 1
    async with street.db.read() as s:
        assert (await s.exec(select(Reminder))).all() == []
    await peer.no_action(0.3)


async def test_help_lists_reminders_only_for_those_who_may_use_them(
    peer: OneBotPeer, street: Runtime
) -> None:
    leader_help: Sent = await peer.ask(LEADER, "/帮助")
    assert "/提醒 <时间> <内容>" in leader_help.text and "/预警" not in leader_help.text
    staff_help = await peer.ask(LI, "/帮助")
    assert "/提醒" in staff_help.text and "/预警 <地区>" in staff_help.text
    assert "/协查 <函号>" in staff_help.text
    resident_help = await peer.ask(RESIDENT_USER, "/帮助")
    assert "/提醒" not in resident_help.text and "/预警" not in resident_help.text
    await asyncio.sleep(0)
