"""Incidents (/事件 /处理 /办结) over the real OneBot v11 WebSocket, the real outbox
and the scheduling core: the 应急小分队 is alerted at once, an incident nobody
acknowledges escalates to staff after 15 minutes and one acknowledged in time
does not; response times are stored and audited; rooms stay out of groups.
"""

from __future__ import annotations

from datetime import datetime

from bot.runtime import Runtime
from bot.scheduler import Scheduler
from bot.settings import Settings
from ground.timeutil import SHANGHAI, local
from storage.models import ScheduledItem, TeamMember
from storage.models_events import Incident
from storage.repo import ensure_person
from tests.conftest import dump_db
from tests.helpers import (
    ask_expecting,
    audit_trail,
    collect,
    fire_due,
    freeze_clock,
    outbox_settled,
    register_groups,
    say,
    scheduled_items,
)
from tests.onebot import OneBotPeer, Sent

# Plugin modules are imported inside tests: NoneBot must be initialised first.

ADMIN, LI = 10001, 10002  # 张主任 (管理员), 李干事 (工作人员)
ZHENG = 30032  # 郑磊, 单元长 of 3栋2单元
SQUAD_MEMBER = 40001  # 赵队员, 应急小分队 (not staff)
RESIDENT_USER = 55555
SQUAD = 760100  # 应急小分队
WORK = 760000  # 幸福社区 工作群
GRID2 = 760002  # 幸福社区/第二网格 工作群 (3栋 is in it)
GRID1 = 760001  # 幸福社区/第一网格 工作群 (3栋 is not)
COORD = 760200  # 综合协调组
HEALTH = 760300  # 四人一专班: not concerned
RESIDENT = 760101
STAFF_GROUPS = {f"group:{g}" for g in (WORK, GRID2, COORD)}


async def setup_street(peer: OneBotPeer, rt: Runtime) -> None:
    await register_groups(peer, ADMIN, [
        (SQUAD, "全部 应急小分队"),
        (WORK, "幸福社区 工作群"),
        (GRID2, "幸福社区/第二网格 工作群"),
        (GRID1, "幸福社区/第一网格 工作群"),
        (COORD, "全部 综合协调组"),
        (HEALTH, "全部 四人一专班"),
        (RESIDENT, "幸福社区/3栋 居民群"),
    ])
    async with rt.db.write() as s:
        person = await ensure_person(s, f"qq:{SQUAD_MEMBER}", "赵队员")
        s.add(TeamMember(person_id=person.id, team="应急小分队"))


def at(sends: list[Sent], target: str) -> Sent:
    found = [s for s in sends if s.target == target]
    assert len(found) == 1, (target, [(s.target, s.text) for s in sends])
    return found[0]


async def escalation_items(rt: Runtime) -> list[ScheduledItem]:
    return await scheduled_items(rt, "incident.escalate")


async def incident(rt: Runtime, number: int) -> Incident:
    async with rt.db.read() as s:
        found = await s.get(Incident, number)
    assert found is not None
    return found


async def test_unacknowledged_incident_escalates_to_staff(
    peer: OneBotPeer, street: Runtime, outbox
) -> None:
    from plugins.incidents import jobs

    await setup_street(peer, street)
    clock = freeze_clock(street, datetime(2026, 11, 30, 10, 0, tzinfo=SHANGHAI), outbox)
    sched = Scheduler.from_hooks(street, jobs.HOOKS)  # not started: the test fires items

    sends = await say(peer, ZHENG, "/事件 设备离线 3栋2单元 301 门磁无信号，电话13812345678", 2)
    reply = at(sends, f"private:{ZHENG}")
    assert "已上报事件 #1：设备离线，幸福社区/3栋2单元 301室" in reply.text
    assert "已通知应急小分队；15 分钟内无人受理将上报工作人员" in reply.text
    alert = at(sends, f"group:{SQUAD}")
    assert alert.text.startswith("【事件 #1】设备离线\n地点：幸福社区/3栋2单元（房号已登记")
    # Free text never goes to a group: the note waits for whoever takes it on.
    assert "说明已登记，受理后私信发送。" in alert.text and "门磁" not in alert.text
    assert "上报：郑磊 11-30 10:00" in alert.text and "/处理 1" in alert.text
    assert "301" not in alert.text
    await peer.no_action(0.3)
    [item] = await escalation_items(street)
    assert local(item.due_at) == datetime(2026, 11, 30, 10, 15, tzinfo=SHANGHAI)

    # Nobody took it: at 10:15 staff hear of it, in every work group covering the
    # unit and the 综合协调组 — not the other grid, the squad again, or residents.
    assert await fire_due(sched, clock, item) is True
    escalated = await collect(peer, 3)
    await peer.no_action(0.3)
    assert {s.target for s in escalated} == STAFF_GROUPS
    for s in escalated:
        assert s.text.startswith(
            "【事件升级】事件 #1 设备离线（幸福社区/3栋2单元）上报 15 分钟仍无人受理"
        )
        assert "301" not in s.text and "门磁" not in s.text
    assert await sched.fire(item.id) is False  # once
    assert (await incident(street, 1)).escalated_at is not None

    # Taken late, in the squad's group: the room goes privately to the taker, and
    # the staff groups that heard of it are told.
    clock.at = datetime(2026, 11, 30, 10, 20, tzinfo=SHANGHAI)
    sends = await say(peer, SQUAD_MEMBER, "/处理 1", 5, group=SQUAD)
    taken = at(sends, f"group:{SQUAD}")
    assert "已受理事件 #1：设备离线，幸福社区/3栋2单元，响应用时 20 分钟" in taken.text
    assert "房号等详情已私信发送给您" in taken.text and "301" not in taken.text
    detail = at(sends, f"private:{SQUAD_MEMBER}")
    assert detail.text.startswith("事件 #1 详情：设备离线，幸福社区/3栋2单元 301室")
    for target in STAFF_GROUPS:
        notice = at(sends, target)
        assert notice.text.startswith("事件 #1（设备离线，幸福社区/3栋2单元）已由 赵队员 受理")
        assert "301" not in notice.text

    clock.at = datetime(2026, 11, 30, 10, 50, tzinfo=SHANGHAI)
    sends = await say(peer, SQUAD_MEMBER, "/办结 1 已重新配对门磁，设备在线", 6, group=SQUAD)
    closed = at(sends, f"group:{SQUAD}")
    assert closed.text.startswith(
        "已办结事件 #1（设备离线，幸福社区/3栋2单元），处理结果已记录并私信发送给您。"
    )
    assert "响应用时 20 分钟，办结用时 50 分钟（曾因超时无人受理上报工作人员）" in closed.text
    # The result (free text) only privately: to the closer and to the reporter.
    for private in (f"private:{SQUAD_MEMBER}", f"private:{ZHENG}"):
        assert "已重新配对门磁，设备在线" in at(sends, private).text
    for s in sends:
        if s.target.startswith("group:"):
            assert "门磁" not in s.text
    assert {s.target for s in sends} == STAFF_GROUPS | {
        f"group:{SQUAD}", f"private:{SQUAD_MEMBER}", f"private:{ZHENG}"
    }
    await peer.no_action(0.3)

    inc = await incident(street, 1)
    assert (inc.state, inc.ack_minutes, inc.close_minutes, inc.acked_by, inc.closed_by) == (
        "closed", 20, 50, f"qq:{SQUAD_MEMBER}", f"qq:{SQUAD_MEMBER}"
    )
    assert (inc.room, inc.note) == ("301", "门磁无信号，电话138****5678")
    audit = await audit_trail(street, "incident_")
    assert [tuple(a) for a in audit] == [
        ("incident_report", "#1 设备离线 unit=6"),
        ("incident_escalate", "#1 after 15min"),
        ("incident_ack", "#1 20min"),
        ("incident_close", "#1 ack=20min close=50min"),
    ]


async def test_acknowledged_incident_does_not_escalate(
    peer: OneBotPeer, street: Runtime, outbox
) -> None:
    from plugins.incidents import jobs

    await setup_street(peer, street)
    clock = freeze_clock(street, datetime(2026, 11, 30, 10, 0, tzinfo=SHANGHAI), outbox)
    sched = Scheduler.from_hooks(street, jobs.HOOKS)

    # Reported in a work group with a relative unit: the reply there shows no room.
    sends = await say(peer, ZHENG, "/事件 私自外出 3-2 502 疑似外出购物", 2, group=WORK)
    reply = at(sends, f"group:{WORK}")
    assert "已上报事件 #1：私自外出，幸福社区/3栋2单元。" in reply.text and "502" not in reply.text
    assert "502" not in at(sends, f"group:{SQUAD}").text

    clock.at = datetime(2026, 11, 30, 10, 5, tzinfo=SHANGHAI)
    sends = await say(peer, SQUAD_MEMBER, "/处理 #1", 2)  # privately: the reply has the room
    taken = at(sends, f"private:{SQUAD_MEMBER}")
    assert "已受理事件 #1：私自外出，幸福社区/3栋2单元 502室，响应用时 5 分钟" in taken.text
    assert "说明：疑似外出购物" in taken.text and "/办结 1 <结果>" in taken.text
    notice = at(sends, f"group:{SQUAD}")
    assert "已由 赵队员 受理，响应用时 5 分钟" in notice.text and "502" not in notice.text
    [item] = await escalation_items(street)
    assert item.state == "cancelled"

    assert await fire_due(sched, clock, item) is False  # nothing escalates
    await peer.no_action(0.5)
    inc = await incident(street, 1)
    assert (inc.state, inc.ack_minutes, inc.escalated_at) == ("acked", 5, None)

    before = dump_db(street)
    again = await peer.ask(LI, "/处理 1", group_id=SQUAD)
    assert "事件 #1 已由 赵队员 于 11-30 10:05 受理" in again.text
    assert dump_db(street) == before

    listed = await peer.ask(LI, "/事件 列表")
    assert "未办结的事件（1件）" in listed.text
    assert (
        "#1 私自外出 幸福社区/3栋2单元 502室：11-30 10:00 上报，赵队员 已受理（响应 5 分钟）"
        in listed.text
    )
    in_group = await peer.ask(LI, "/事件 列表", group_id=SQUAD)
    assert "#1 私自外出 幸福社区/3栋2单元：" in in_group.text and "502" not in in_group.text

    # Staff close it; closing an unacknowledged one acknowledges it too.
    clock.at = datetime(2026, 11, 30, 11, 0, tzinfo=SHANGHAI)
    sends = await say(peer, LI, "/办结 1 已劝返，居家隔离继续", 3)
    assert "已劝返" in at(sends, f"private:{ZHENG}").text  # the reporter hears the result
    assert "响应用时 5 分钟，办结用时 60 分钟。" in at(sends, f"private:{LI}").text
    at(sends, f"group:{SQUAD}")
    sends = await say(peer, ZHENG, "/事件 标识掉落 3栋2单元", 2)
    clock.at = datetime(2026, 11, 30, 11, 12, tzinfo=SHANGHAI)
    sends = await say(peer, ADMIN, "/办结 2 已重新张贴", 3)
    assert "响应用时 12 分钟，办结用时 12 分钟" in at(sends, f"private:{ADMIN}").text
    items = await escalation_items(street)
    assert [i.state for i in items] == ["cancelled", "cancelled"]
    assert "目前没有未办结的事件" in (await peer.ask(LI, "/事件 列表")).text


async def test_escalation_delay_is_a_setting(peer: OneBotPeer, street: Runtime) -> None:
    class Tuned(Settings):
        incident_escalate_minutes: int = 5

    street.settings = Tuned(gridbot_db_url=street.settings.db_url)
    freeze_clock(street, datetime(2026, 11, 30, 10, 0, tzinfo=SHANGHAI))
    reply = await peer.ask(ZHENG, "/事件 其他 3栋2单元 楼道堆物")
    assert "5 分钟内无人受理将上报工作人员" in reply.text
    [item] = await escalation_items(street)
    assert local(item.due_at) == datetime(2026, 11, 30, 10, 5, tzinfo=SHANGHAI)
    usage = await peer.ask(ZHENG, "/事件")
    assert "无人受理超过 5 分钟" in usage.text


async def test_bad_input_and_refusals_change_nothing(
    peer: OneBotPeer, street: Runtime, outbox
) -> None:
    await setup_street(peer, street)
    freeze_clock(street, datetime(2026, 11, 30, 10, 0, tzinfo=SHANGHAI))
    first = await say(peer, ZHENG, "/事件 标识掉落 3栋2单元", 2)
    assert "已上报事件 #1" in at(first, f"private:{ZHENG}").text
    render = street.renderer.render
    usage = render("usage/incident", minutes=15)
    await outbox_settled(street)
    before = dump_db(street)
    for user, text, expect in [
        (ZHENG, "/事件", usage),
        (ZHENG, "/事件 火灾 3栋2单元", usage),
        (ZHENG, "/事件 设备离线", usage),
        (ZHENG, "/事件 设备离线 3栋", usage),
        (ZHENG, "/事件 设备离线 3栋2单元 301 " + "说" * 201, usage),
        (ZHENG, "/事件 设备离线 9栋1单元 301", "没有找到楼栋“9栋”"),
        (ZHENG, "/事件 设备离线 3栋9单元", "没有找到单元“3栋9单元”"),
        (LI, "/处理", render("usage/incident_ack")),
        (LI, "/处理 第一件", render("usage/incident_ack")),
        (LI, "/处理 99", "没有编号为 99 的事件"),
        (LI, "/办结 1", render("usage/incident_close")),
        (LI, "/办结 一 已处理", render("usage/incident_close")),
        (LI, "/办结 1 " + "果" * 201, render("usage/incident_close")),
        (LI, "/办结 99 已处理", "没有编号为 99 的事件"),
    ]:
        sent, expect = await ask_expecting(peer, street.renderer, user, text, expect)
        assert sent.text == expect or expect in sent.text, (text, sent.text)
    assert dump_db(street) == before
    refused = render("common/refused")
    for user, text, group in [
        (RESIDENT_USER, "/事件 设备离线 3栋2单元 301", None),
        (RESIDENT_USER, "/事件 列表", None),
        (RESIDENT_USER, "/处理 1", SQUAD),
        (ZHENG, "/处理 1", None),  # leaders report; the squad and staff take them on
        (ZHENG, "/办结 1 已处理", WORK),
        (ZHENG, "/事件 列表", None),
    ]:
        sent = await peer.ask(user, text, group_id=group)
        assert sent.text == refused, (user, text)
    resident = await peer.ask(ZHENG, "/事件 设备离线 3栋2单元 301", group_id=RESIDENT)
    assert resident.text == render("common/resident_group")
    assert dump_db(street) == before
    # Closing twice: the second one changes nothing.
    closed = await say(peer, LI, "/办结 1 已重新张贴", 3)
    assert "已办结事件 #1" in at(closed, f"private:{LI}").text
    await outbox_settled(street)
    before = dump_db(street)
    assert "事件 #1 已经办结" in (await peer.ask(LI, "/办结 1 再次")).text
    assert "事件 #1 已经办结" in (await peer.ask(LI, "/处理 1")).text
    assert dump_db(street) == before
