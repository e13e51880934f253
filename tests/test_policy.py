"""Policy notes (/政策 /已学习 /学习情况) over the real OneBot v11 WebSocket and the
real outbox: versioned publication, full text to work groups and only a short
notice to resident groups, study acknowledgements, reminders only to those who
have not studied, the study status for the 综合协调组.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from functools import partial
from types import SimpleNamespace

from sqlmodel import select

from bot.runtime import Runtime
from bot.scheduler import Scheduler
from ground.timeutil import SHANGHAI, local
from storage.models import AuditLog
from storage.models_outbox import OutboxItem
from storage.models_publicity import Policy, PolicyStudy
from tests.conftest import dump_db
from tests.helpers import (
    ask_expecting,
    bound_at,
    freeze_clock,
    register_groups,
    run_due,
    say,
    scheduled_items,
)
from tests.onebot import OneBotPeer, Sent

# Plugin modules are imported inside tests: NoneBot must be initialised first.

ADMIN, LI, WANG = 10001, 10002, 10003  # 张主任 (综合协调组), 李干事, 王干事
WORK = 740000
RESIDENT = {1: 740101, 2: 740102}
COORD = 740200  # 综合协调组
STATS = 740201  # 数据统计排查组: not told about policy study
TITLE = "关于返乡人员报备的通知"
BODY = "返乡人员抵达后请于24小时内向所在社区报备。\n社区工作人员将上门核实，联系电话见社区公告。"
MORNING = datetime(2026, 11, 30, 10, 0, tzinfo=SHANGHAI)
NIGHT = datetime(2026, 11, 30, 23, 0, tzinfo=SHANGHAI)  # in the quiet hours


async def bind_groups(peer: OneBotPeer) -> None:
    await register_groups(peer, ADMIN, [
        (WORK, "幸福社区 工作群"),
        (RESIDENT[1], "幸福社区/1栋 居民群"),
        (RESIDENT[2], "幸福社区/2栋 居民群"),
        (COORD, "全部 综合协调组"),
        (STATS, "全部 数据统计排查组"),
    ])


def one(sends: list[Sent], prefix: str, target: str | None = None) -> Sent:
    found = [s for s in sends if s.text.startswith(prefix) and target in (None, s.target)]
    assert len(found) == 1, (prefix, [s.text for s in sends])
    return found[0]


remind_items = partial(scheduled_items, kind="policy.remind")


async def test_publish_study_status_and_reminder(
    peer: OneBotPeer, street: Runtime, outbox
) -> None:
    from plugins.policy import jobs

    clock = await bound_at(street, MORNING, bind_groups(peer), outbox)

    sends = await say(peer, WANG, f"/政策 发布 {TITLE}\n{BODY}", 4, group=WORK)
    reply = one(sends, "已发布政策", f"group:{WORK}")
    assert f"#1《{TITLE}》第1版" in reply.text
    assert "全文推送到 1 个工作群，简短通知推送到 2 个居民群" in reply.text
    assert "12-01 10:00 将私信提醒" in reply.text
    full = one(sends, "【政策学习】", f"group:{WORK}")
    assert TITLE in full.text and BODY in full.text and "/已学习 1" in full.text
    notices = [s for s in sends if s.target != f"group:{WORK}"]
    assert sorted(s.target for s in notices) == sorted(f"group:{g}" for g in RESIDENT.values())
    for notice in notices:
        assert notice.text.startswith("【政策通知】") and TITLE in notice.text
        for line in BODY.splitlines():
            assert line not in notice.text
        assert "/已学习" not in notice.text
    await peer.no_action(0.3)  # nothing to the team groups at publication

    async with street.db.read() as s:
        audit = (await s.exec(select(AuditLog).where(AuditLog.action == "policy_publish"))).all()
    assert [(a.actor, a.detail) for a in audit] == [("qq:10003", "#1 v1")]
    [item] = await remind_items(street)
    assert (item.ref_id, local(item.due_at)) == (1, datetime(2026, 12, 1, 10, 0, tzinfo=SHANGHAI))

    studied = await peer.ask(ADMIN, "/已学习 1")
    assert f"已登记：您已学习 #1《{TITLE}》第1版" in studied.text
    before = dump_db(street)
    again = await peer.ask(ADMIN, "/已学习 #1", group_id=WORK)
    assert "已经登记过" in again.text
    assert dump_db(street) == before

    status = await peer.ask(LI, "/学习情况 1", group_id=WORK)
    assert "已学习 1/3 人" in status.text
    assert "未学习（2人）：李干事、王干事" in status.text
    assert "张主任" not in status.text
    leader_list = await peer.ask(30011, "/政策", group_id=WORK)  # leaders may read
    assert f"#1《{TITLE}》" in leader_list.text

    # The reminder: privately to exactly the two who have not studied, and the
    # status to the 综合协调组 group only.
    clock.at = local(item.due_at)
    sched = Scheduler.from_hooks(street, jobs.HOOKS)
    assert await run_due(sched, item.id) is True
    sends = [await peer.expect_send() for _ in range(3)]
    await peer.no_action(0.3)
    private = sorted(s.target for s in sends if s.target.startswith("private:"))
    assert private == [f"private:{LI}", f"private:{WANG}"]
    for s in sends:
        if s.target.startswith("private:"):
            assert s.text.startswith("【学习提醒】政策 #1") and "/已学习 1" in s.text
    coord = one(sends, "【学习提醒】#1", f"group:{COORD}")
    assert "已学习 1/3 人" in coord.text and "未学习（2人）：李干事、王干事" in coord.text
    assert "已私信提醒以上人员" in coord.text
    assert await sched.fire(item.id) is False  # once


async def test_versions_are_studied_separately(peer: OneBotPeer, street: Runtime, outbox) -> None:
    from plugins.policy import jobs

    freeze_clock(street, datetime(2026, 11, 30, 10, 0, tzinfo=SHANGHAI))
    first = await peer.ask(WANG, f"/政策 发布 {TITLE}\n第一版正文")
    assert f"#1《{TITLE}》第1版" in first.text
    other = await peer.ask(WANG, "/政策 发布\n《冬季消杀工作安排》\n每周一、四全面消杀。")
    assert "#2《冬季消杀工作安排》第1版" in other.text
    second = await peer.ask(LI, f"/政策 发布 {TITLE}\n第二版正文：报备时限缩短为12小时。")
    assert f"#3《{TITLE}》第2版" in second.text

    listed = await peer.ask(LI, "/政策")
    assert f"#3《{TITLE}》第2版" in listed.text and "#2《冬季消杀工作安排》" in listed.text
    assert "#1《" not in listed.text
    old = await peer.ask(LI, "/政策 1")
    assert "第一版正文" in old.text and "已有新版本 #3（第2版）" in old.text
    current = await peer.ask(LI, "/政策 3")
    assert "报备时限缩短为12小时" in current.text and "新版本" not in current.text

    studied_old = await peer.ask(LI, "/已学习 1")
    assert "已登记" in studied_old.text and "已有新版本 #3" in studied_old.text
    status = await peer.ask(LI, "/学习情况 3")
    assert "已学习 0/3 人" in status.text and "李干事" in status.text
    await peer.ask(LI, "/已学习 3")
    await peer.ask(WANG, "/已学习 3")
    status = await peer.ask(LI, "/学习情况 3")
    assert "已学习 2/3 人" in status.text and "未学习（1人）：张主任" in status.text
    async with street.db.read() as s:
        studies = (await s.exec(select(PolicyStudy).order_by(PolicyStudy.id))).all()
        versions = (await s.exec(select(Policy.version).where(Policy.title == TITLE))).all()
    assert [(x.policy_id, x.account) for x in studies] == [
        (1, "qq:10002"), (3, "qq:10002"), (3, "qq:10003")
    ]
    assert sorted(versions) == [1, 2]

    # The superseded version's reminder is skipped; the current one reminds 张主任.
    sched = Scheduler.from_hooks(street, jobs.HOOKS)
    items = {i.ref_id: i for i in await remind_items(street)}
    assert await run_due(sched, items[1].id) is True
    await peer.no_action(0.3)
    assert await run_due(sched, items[3].id) is True
    reminder = await peer.expect_send()
    assert reminder.target == f"private:{ADMIN}" and "#3" in reminder.text
    await peer.no_action(0.3)  # no 综合协调组 group bound here: only logged


async def test_quiet_hours_hold_resident_notice_and_move_the_reminder(
    peer: OneBotPeer, street: Runtime, outbox
) -> None:
    clock = await bound_at(street, NIGHT, bind_groups(peer), outbox)
    sends = await say(peer, WANG, f"/政策 发布 {TITLE}\n{BODY}", 2, group=WORK)
    reply = one(sends, "已发布政策")
    assert "夜间免打扰，居民群通知将于 12-01 07:00 发送" in reply.text
    assert "12-02 07:00 将私信提醒" in reply.text  # 23:00 + 24 h falls in the quiet hours
    one(sends, "【政策学习】", f"group:{WORK}")  # work groups get it at once
    await peer.no_action(0.3)
    clock.at = datetime(2026, 12, 1, 7, 1, tzinfo=SHANGHAI)
    outbox.notify()
    held = [await peer.expect_send() for _ in range(2)]
    assert sorted(s.target for s in held) == sorted(f"group:{g}" for g in RESIDENT.values())
    for _ in range(100):  # the peer answered; the outbox records it right after
        async with street.db.read() as s:
            stmt = select(OutboxItem.state).where(OutboxItem.source == "policy:1")
            states = set((await s.exec(stmt)).all())
        if states == {"sent"}:
            break
        await asyncio.sleep(0.02)
    assert states == {"sent"}


async def test_bad_input_and_refusals_change_nothing(peer: OneBotPeer, street: Runtime) -> None:
    published = await peer.ask(WANG, f"/政策 发布 {TITLE}\n{BODY}")
    assert "已发布政策 #1" in published.text
    await bind_groups(peer)  # after publishing: no pushes to wait for
    render = street.renderer.render
    before = dump_db(street)
    for user, text, expect, group in [
        (WANG, "/政策 发布", render("usage/policy"), None),
        (WANG, f"/政策 发布 {TITLE}", render("usage/policy"), None),
        (WANG, f"/政策 发布 {TITLE} 正文写在同一行", render("usage/policy"), None),
        (WANG, "/政策 发布\n\n", render("usage/policy"), None),
        (WANG, "/政策 第三份", render("usage/policy"), None),
        (WANG, "/政策 99", "没有编号为 99 的政策", None),
        (WANG, "/政策 发布 " + "长" * 51 + "\n正文", "标题太长（51 字）", None),
        (WANG, "/政策 发布 标题\n" + "文" * 3001, "正文太长（3001 字）", None),
        (WANG, "/已学习", render("usage/studied"), None),
        (WANG, "/已学习 第一份", render("usage/studied"), None),
        (WANG, "/已学习 99", "没有编号为 99 的政策", None),
        (WANG, "/学习情况", render("usage/study_status"), None),
        (WANG, "/学习情况 1 2", render("usage/study_status"), None),
        (WANG, "/学习情况 99", "没有编号为 99 的政策", None),
        # Full texts and staff names stay out of resident groups.
        (WANG, "/学习情况 1", "这是居民群", RESIDENT[1]),
        # There /政策 shows the notice as the group got it (tests/test_privacy.py),
        # and nothing is published from a resident group.
        (WANG, "/政策 1", render("policy/notice", p=SimpleNamespace(title=TITLE, version=1)),
         RESIDENT[1]),
        (WANG, f"/政策 发布 {TITLE}\n正文", "这是居民群", RESIDENT[1]),
        (99999, "/已学习 1", "不在工作人员名单中", None),  # a superuser without a roster entry
    ]:
        sent, expect = await ask_expecting(peer, street.renderer, user, text, expect, group)
        assert sent.text == expect or expect in sent.text, (text, sent.text)
    assert dump_db(street) == before
    refused = render("common/refused")
    for user, text in [
        (55555, "/政策"),
        (55555, "/政策 1"),
        (55555, f"/政策 发布 {TITLE}\n正文"),
        (55555, "/已学习 1"),
        (55555, "/学习情况 1"),
        (30011, f"/政策 发布 {TITLE}\n正文"),  # leaders read, never publish
        (20001, "/已学习 1"),
        (30011, "/学习情况 1"),
    ]:
        # In an unbound group the role guard answers; in a resident group the
        # resident-group gate answers first (tests/test_privacy.py).
        sent = await peer.ask(user, text, group_id=740000)
        assert sent.text == refused, (user, text)
    assert dump_db(street) == before


def test_reminder_due_avoids_quiet_hours() -> None:
    from plugins.policy.service import remind_due

    at = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # 10:00 Shanghai
    assert local(remind_due(at, 24, "22:00-07:00")) == datetime(
        2026, 12, 1, 10, 0, tzinfo=SHANGHAI
    )
    assert local(remind_due(at, 13, "22:00-07:00")) == datetime(
        2026, 12, 1, 7, 0, tzinfo=SHANGHAI
    )
    assert local(remind_due(at, 13, "")) == datetime(2026, 11, 30, 23, 0, tzinfo=SHANGHAI)
