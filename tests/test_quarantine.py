"""Home quarantine (/隔离 /健康) over the real OneBot v11 WebSocket, the real outbox
and the scheduling core: reminders go only to the unit leader's private chat,
names are masked in every frame, a fever (>= 37.3) or symptoms alert the
四人一专班 group with unit and masked name only, and nothing ever reaches a
resident or work group.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlmodel import col, select

from bot.runtime import Runtime
from bot.scheduler import Scheduler
from bot.settings import Settings
from ground.timeutil import SHANGHAI, local
from storage.models import AuditLog, ScheduledItem
from storage.models_events import HealthCheck, Quarantine
from storage.models_outbox import OutboxItem
from tests.conftest import dump_db
from tests.helpers import (
    ask_expecting,
    audit_trail,
    fire_due,
    freeze_clock,
    register_groups,
    scheduled_items,
)
from tests.onebot import OneBotPeer, Sent

# Plugin modules are imported inside tests: NoneBot must be initialised first.

ADMIN, LI, WANG = 10001, 10002, 10003  # 张主任, 李干事 (四人一专班), 王干事
ZHENG = 30032  # 郑磊, 单元长 of 3栋2单元
LIU = 20003  # 刘洋, 楼长 of 3栋
LI_XIU = 30011  # 李秀英, 单元长 of 1栋1单元
CHEN = 20002  # 陈伟, 楼长 of 2栋 (2栋2单元's 单元长 has no account)
RESIDENT_USER = 55555
WORK = 750000
RESIDENT = 750101
TEAM = 750200  # 四人一专班
FULL_NAME = "欧阳娜娜"
MASKED = "欧***"


async def bind_groups(peer: OneBotPeer) -> None:
    await register_groups(peer, ADMIN, [
        (WORK, "幸福社区 工作群"),
        (RESIDENT, "幸福社区/3栋 居民群"),
        (TEAM, "全部 四人一专班"),
    ])


async def items_of(rt: Runtime, ref_id: int, kind: str | None = None) -> list[ScheduledItem]:
    return await scheduled_items(rt, kind, prefix="quarantine.", ref_id=ref_id, by_due=True)


def frames_text(peer: OneBotPeer) -> str:
    return "\n".join(json.dumps(f, ensure_ascii=False) for f in peer.actions)


async def outbox_texts(rt: Runtime) -> list[str]:
    async with rt.db.read() as s:
        return list((await s.exec(select(OutboxItem.text))).all())


async def test_reminders_private_to_leader_and_fever_alert_masked(
    peer: OneBotPeer, street: Runtime, outbox
) -> None:
    from plugins.quarantine import jobs

    await bind_groups(peer)
    since = len(peer.actions)  # what the bot said from here on is checked at the end
    clock = freeze_clock(street, datetime(2026, 11, 30, 10, 0, tzinfo=SHANGHAI), outbox)
    sched = Scheduler.from_hooks(street, jobs.HOOKS)  # not started: the test fires items

    reply = await peer.ask(LI, f"/隔离 登记 3栋2单元 301 11-30 14 {FULL_NAME}")
    assert reply.target == f"private:{LI}"
    assert "已登记居家隔离 #1：幸福社区/3栋2单元 301室 欧***，11-30 起隔离 14 天，12-14 期满" in (
        reply.text
    )
    assert "首次提醒 12-01 09:00" in reply.text and "/健康 1 <体温>" in reply.text
    async with street.db.read() as s:
        [q] = (await s.exec(select(Quarantine))).all()
    assert (q.name, q.room, q.days, str(q.end_date)) == (FULL_NAME, "301", 14, "2026-12-14")
    # 11-30 09:00 was past at registration: 13 daily checks left, and the end date.
    checks = await items_of(street, 1, "quarantine.check")
    assert [local(i.due_at).strftime("%m-%d %H:%M") for i in checks] == [
        f"12-{d:02d} 09:00" for d in range(1, 14)
    ]
    [end] = await items_of(street, 1, "quarantine.end")
    assert local(end.due_at) == datetime(2026, 12, 14, 9, 0, tzinfo=SHANGHAI)

    # The first daily reminder: privately to the unit's 单元长 only.
    assert await fire_due(sched, clock, checks[0]) is True
    remind = await peer.expect_send()
    await peer.no_action(0.3)
    assert remind.target == f"private:{ZHENG}"
    assert remind.text.startswith("【健康监测提醒】居家隔离 #1 幸福社区/3栋2单元 301室 欧***")
    assert "隔离第2/14天" in remind.text and "/健康 1 <体温>" in remind.text
    assert await sched.fire(checks[0].id) is False  # once

    # 37.2 is recorded and alerts nobody; 37.3 is a fever.
    ok = await peer.ask(ZHENG, "/健康 1 37.2")
    assert "体温 37.2℃" in ok.text and "通知四人一专班" not in ok.text
    await peer.no_action(0.3)
    sends = [s async for s in _two(peer, ZHENG, "/健康 #1 37.3℃")]
    reply = next(s for s in sends if s.target == f"private:{ZHENG}")
    assert "体温 37.3℃" in reply.text and "已立即通知四人一专班" in reply.text
    alert = next(s for s in sends if s.target == f"group:{TEAM}")
    assert alert.text.startswith("【健康异常】居家隔离 #1 幸福社区/3栋2单元 欧***")
    assert "体温 37.3℃（发热，≥37.3℃）" in alert.text
    assert "301" not in alert.text and alert.ats == []
    # Symptoms without fever alert too. They are free text: the team's group only
    # hears that there are some; its members read them privately, the person's own
    # name typed there masked.
    await peer.private_message(ZHENG, f"/健康 1 36.6 {FULL_NAME}咳嗽、乏力")
    sends = [await peer.expect_send() for _ in range(3)]
    alert = next(s for s in sends if s.target == f"group:{TEAM}")
    assert "有症状（详情已私信四人一专班成员）" in alert.text and "咳嗽" not in alert.text
    assert "发热" not in alert.text
    member = next(s for s in sends if s.target == "private:10002")  # 李干事, 四人一专班
    assert "症状：欧***咳嗽、乏力" in member.text
    await peer.no_action(0.3)

    # The end date: privately to the leader.
    assert await fire_due(sched, clock, end) is True
    ended = await peer.expect_send()
    assert ended.target == f"private:{ZHENG}"
    assert ended.text.startswith("【隔离期满提醒】居家隔离 #1") and "/隔离 解除 1" in ended.text

    async with street.db.read() as s:
        checks_done = (await s.exec(select(HealthCheck).order_by(HealthCheck.id))).all()
        audit = (await s.exec(select(AuditLog).where(
            col(AuditLog.action).in_(("quarantine_register", "health_check"))))).all()
    assert [(c.temp_centi, c.abnormal) for c in checks_done] == [
        (3720, False), (3730, True), (3660, True)
    ]
    assert all(FULL_NAME not in a.detail and "301" not in a.detail for a in audit)

    # Privacy over everything that was sent or queued.
    everything = frames_text(peer)
    assert FULL_NAME not in everything and MASKED in everything
    assert all(FULL_NAME not in t for t in await outbox_texts(street))
    sent = _sent_messages(peer, since)
    assert {s.target for s in sent} == {f"private:{LI}", f"private:{ZHENG}", f"group:{TEAM}"}
    to_groups = [s for s in sent if s.target.startswith("group:")]
    assert len(to_groups) == 2  # the fever and the symptoms alerts, nothing else
    for s in to_groups:
        assert s.text.startswith("【健康异常】") and "301" not in s.text


async def _two(peer: OneBotPeer, user: int, text: str):
    """A private command whose reply and one push arrive in any order."""
    await peer.private_message(user, text)
    for _ in range(2):
        yield await peer.expect_send()


def _sent_messages(peer: OneBotPeer, since: int = 0) -> list[Sent]:
    from tests.onebot import parse_sent

    return [
        parse_sent(f["action"], f["params"]) for f in peer.actions[since:]
        if f["action"] in ("send_group_msg", "send_private_msg", "send_msg")
    ]


async def test_group_chats_get_private_only_and_nothing_is_written(
    peer: OneBotPeer, street: Runtime
) -> None:
    await bind_groups(peer)
    private_only = street.renderer.render("common/private_only")
    resident = street.renderer.render("common/resident_group")
    before = dump_db(street)
    for user, text, group in [
        (LI, f"/隔离 登记 3栋2单元 301 今天 14 {FULL_NAME}", WORK),
        (LI, "/隔离 列表", WORK),
        (ZHENG, "/健康 1 38.5", WORK),
        (LI, "/隔离 登记 3栋2单元 301 今天 14", TEAM),
        (RESIDENT_USER, "/隔离 列表", WORK),  # nothing is parsed or checked in a group
        (LI, "/隔离 列表", RESIDENT),
    ]:
        sent = await peer.ask(user, text, group_id=group)
        assert sent.text in (private_only, resident), (text, sent.text)
        assert sent.text == (resident if group == RESIDENT else private_only)
    assert dump_db(street) == before


async def test_bad_input_and_refusals_change_nothing(peer: OneBotPeer, street: Runtime) -> None:
    freeze_clock(street, datetime(2026, 11, 30, 10, 0, tzinfo=SHANGHAI))
    registered = await peer.ask(LI, "/隔离 登记 3-2 301 今天 14")
    assert "已登记居家隔离 #1" in registered.text
    render = street.renderer.render
    usage = render("usage/quarantine")
    health_usage = render("usage/health", threshold="37.3")
    before = dump_db(street)
    for user, text, expect in [
        (LI, "/隔离", usage),
        (LI, "/隔离 登记", usage),
        (LI, "/隔离 登记 3栋2单元 301 2-30 14", usage),  # impossible date
        (LI, "/隔离 登记 3栋2单元 301 13-01 14", usage),
        (LI, "/隔离 登记 3栋2单元 301 11-30 十四天半", usage),
        (LI, "/隔离 登记 3栋2单元 301 11-30", usage),
        (LI, "/隔离 登记 3栋 301 11-30 14", usage),  # a building is not a unit
        (LI, "/隔离 登记 3栋2单元 三楼 11-30 14", usage),  # not a room number
        (LI, "/隔离 登记 3栋2单元 301 11-30 14 13812345678", usage),  # a phone, not a name
        (LI, "/隔离 登记 3栋2单元 301 11-30 0", "隔离天数 0 不在 1 到 60 天之间"),
        (LI, "/隔离 登记 3栋2单元 301 11-30 400", "隔离天数 400 不在 1 到 60 天之间"),
        (LI, "/隔离 登记 3栋2单元 301 11-30 61天", "隔离天数 61 不在 1 到 60 天之间"),
        (LI, "/隔离 登记 3栋2单元 301 11-01 14", "已于 11-15 期满"),
        (LI, "/隔离 登记 3栋2单元 301 2026-12-31 14", "最多可提前 30 天"),
        (LI, "/隔离 登记 9栋1单元 301 今天 14", "没有找到楼栋“9栋”"),
        (LI, "/隔离 登记 3栋9单元 301 今天 14", "没有找到单元“3栋9单元”"),
        (LI_XIU, "/隔离 登记 3栋2单元 301 今天 14", "您不是 3栋2单元 的单元长或楼长"),
        (LI, "/隔离 解除", usage),
        (LI, "/隔离 解除 第一", usage),
        (LI, "/隔离 解除 9", "没有找到您负责的编号为 9 的隔离登记"),
        (LI_XIU, "/隔离 解除 1", "没有找到您负责的编号为 1"),  # another unit's entry
        (LI, "/隔离 列表 全部", usage),
        (ZHENG, "/健康", health_usage),
        (ZHENG, "/健康 1", health_usage),
        (ZHENG, "/健康 1 373", health_usage),
        (ZHENG, "/健康 1 45.0", health_usage),
        (ZHENG, "/健康 1 发烧", health_usage),
        (ZHENG, "/健康 1 37.5 " + "咳" * 101, health_usage),
        (ZHENG, "/健康 2 36.5", "没有找到您负责的编号为 2"),
        (LI_XIU, "/健康 1 36.5", "没有找到您负责的编号为 1"),
    ]:
        sent, expect = await ask_expecting(peer, street.renderer, user, text, expect)
        assert sent.text == expect or expect in sent.text, (text, sent.text)
    assert dump_db(street) == before
    refused = render("common/refused")
    for user, text in [
        (RESIDENT_USER, f"/隔离 登记 3栋2单元 301 今天 14 {FULL_NAME}"),
        (RESIDENT_USER, "/隔离 列表"),
        (RESIDENT_USER, "/隔离 解除 1"),
        (RESIDENT_USER, "/健康 1 36.5"),
    ]:
        sent = await peer.ask(user, text)
        assert sent.text == refused, (user, text)
    assert dump_db(street) == before


async def test_list_and_release_cancel_the_reminders(peer: OneBotPeer, street: Runtime) -> None:
    from plugins.quarantine import jobs

    freeze_clock(street, datetime(2026, 11, 30, 8, 0, tzinfo=SHANGHAI))
    first = await peer.ask(ZHENG, "/隔离 登记 3栋2单元 1-301室 今天 3 张三")
    assert "#1：幸福社区/3栋2单元 1-301室 张*，11-30 起隔离 3 天，12-03 期满" in first.text
    assert "首次提醒 11-30 09:00" in first.text
    second = await peer.ask(LI_XIU, "/隔离 登记 1栋1单元 502 11月29日 7")
    assert "#2：幸福社区/1栋1单元 502室，11-29 起隔离 7 天" in second.text
    assert len(await items_of(street, 1)) == 4  # 3 checks + the end date

    staff = await peer.ask(LI, "/隔离 列表")
    assert "在隔离人员（2人）" in staff.text
    assert "#1 幸福社区/3栋2单元 1-301室 张*：11-30 起 3 天，第1天，12-03 期满；尚无监测记录" in (
        staff.text
    )
    assert "#2 幸福社区/1栋1单元 502室：11-29 起 7 天，第2天" in staff.text
    building = await peer.ask(LIU, "/隔离 列表")  # 楼长 of 3栋 sees 3栋's entries only
    assert "#1 " in building.text and "#2 " not in building.text
    await peer.ask(ZHENG, "/健康 1 36.4")
    mine = await peer.ask(ZHENG, "/隔离 列表")
    assert "#1 " in mine.text and "今日已监测 36.4℃" in mine.text and "#2 " not in mine.text
    none = await peer.ask(CHEN, "/隔离 列表")
    assert "目前没有您负责的在隔离人员" in none.text

    released = await peer.ask(LIU, "/隔离 解除 #1")
    assert "已解除居家隔离 #1" in released.text and "已取消 4 条尚未发送的提醒" in released.text
    assert {i.state for i in await items_of(street, 1)} == {"cancelled"}
    sched = Scheduler.from_hooks(street, jobs.HOOKS)
    first_check = (await items_of(street, 1, "quarantine.check"))[0]
    assert await sched.fire(first_check.id) is False
    await peer.no_action(0.3)
    again = await peer.ask(ZHENG, "/隔离 解除 1")
    assert "隔离 #1 已经解除" in again.text
    late = await peer.ask(ZHENG, "/健康 1 36.5")
    assert "隔离 #1 已经解除" in late.text
    assert "#1 " not in (await peer.ask(LI, "/隔离 列表")).text
    audit = await audit_trail(street, "quarantine_")
    assert [tuple(a) for a in audit] == [
        ("quarantine_register", "#1 unit=6 days=3"),
        ("quarantine_register", "#2 unit=1 days=7"),
        ("quarantine_release", "#1"),
    ]


async def test_building_leader_then_registrant_get_the_reminders(
    peer: OneBotPeer, street: Runtime, outbox
) -> None:
    from plugins.quarantine import jobs

    clock = freeze_clock(street, datetime(2026, 11, 30, 8, 0, tzinfo=SHANGHAI))
    sched = Scheduler.from_hooks(street, jobs.HOOKS)
    # 2栋2单元's 单元长 has no account: its 楼长 gets them.
    assert "#1" in (await peer.ask(LI, "/隔离 登记 2栋2单元 201 今天 2")).text
    # 4栋1单元 has no leader at all: the registrant does.
    reply = await peer.ask(LI, "/隔离 登记 4栋1单元 101 今天 2")
    assert "提醒您（该单元没有登记负责人账号）" in reply.text
    for number, target in ((1, CHEN), (2, LI)):
        item = (await items_of(street, number, "quarantine.check"))[0]
        assert await fire_due(sched, clock, item) is True
        sent = await peer.expect_send()
        assert sent.target == f"private:{target}" and f"居家隔离 #{number}" in sent.text
        await peer.no_action(0.2)


async def test_check_time_and_fever_threshold_are_settings(
    peer: OneBotPeer, street: Runtime
) -> None:
    class Tuned(Settings):
        quarantine_check_time: str = "08:30"
        fever_threshold: float = 37.5

    street.settings = Tuned(gridbot_db_url=street.settings.db_url)
    freeze_clock(street, datetime(2026, 11, 30, 7, 0, tzinfo=SHANGHAI))
    reply = await peer.ask(LI, "/隔离 登记 3栋2单元 301 今天 1")
    assert "每天 08:30 私信提醒" in reply.text and "首次提醒 11-30 08:30" in reply.text
    ok = await peer.ask(ZHENG, "/健康 1 37.4")
    assert "体温 37.4℃" in ok.text and "发热" not in ok.text
    await peer.no_action(0.3)
    usage = await peer.ask(ZHENG, "/健康")  # the full usage, with the threshold
    assert "体温达到 37.5℃" in usage.text


# --- property: what goes to groups never carries the person or the room -------------------

GROUP_BOUND = ("quarantine/health_alert",)


def test_group_bound_templates_never_show_name_or_room() -> None:
    from datetime import date

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from messages.mask import mask_name
    from messages.render import Renderer
    from plugins.quarantine.service import Checked, clean_symptoms, view
    from storage.models_events import HealthCheck
    from storage.models_events import Quarantine as Q
    from storage.places import LabelledPlace as Place

    renderer = Renderer()
    place = Place(6, 3, 2, 1, 3, 2, "幸福社区")
    names = st.text(alphabet="张王李赵欧阳娜伟芳敏静丽强磊", min_size=2, max_size=6)
    rooms = st.from_regex(r"[1-9][0-9]{2,3}", fullmatch=True)

    @settings(max_examples=200, deadline=None)
    @given(name=names, room=rooms, temp=st.integers(3400, 4300), symptom=st.sampled_from(
        ["", "咳嗽", "{name}发热", "电话13812345678", "{name}住{room}室"]))
    def check(name: str, room: str, temp: int, symptom: str) -> None:
        q = Q(id=3, unit_id=6, room=room, name=name, start_date=date(2026, 11, 30), days=14,
              end_date=date(2026, 12, 14), created_by="qq:10002")
        text = clean_symptoms(symptom.format(name=name, room=room), name, room)
        last = HealthCheck(quarantine_id=3, temp_centi=temp, symptoms=text, reported_by="x")
        checked = Checked(view(q, place, date(2026, 12, 1), last, True), "37.0", text,
                          temp >= 3730, "37.3")
        for template in GROUP_BOUND:
            out = renderer.render(template, c=checked, private=False)
            assert name not in out and mask_name(name) in out
            assert "13812345678" not in out
            assert room not in out

    check()


async def test_the_same_temperature_every_day_is_flagged_in_the_list(
    peer: OneBotPeer, street: Runtime, outbox
) -> None:
    """需核实 rule same_temperature (issue 14): five days at exactly 36.5 are flagged
    in /隔离 列表 (never acted on); five days with one reading different are not."""
    from bot.settings import Settings

    clock = freeze_clock(street, datetime(2026, 11, 30, 9, 0, tzinfo=SHANGHAI), outbox)
    street.settings = Settings(gridbot_db_url=street.settings.db_url,
                               superusers=street.settings.superusers, signal_same_temp_days=3)
    await bind_groups(peer)
    assert "#1" in (await peer.ask(LI, "/隔离 登记 3栋2单元 301 11-30 14")).text
    assert "#2" in (await peer.ask(LI, "/隔离 登记 3栋2单元 302 11-30 14")).text
    for day, temps in enumerate([("36.5", "36.5"), ("36.5", "36.6"), ("36.5", "36.5")]):
        clock.at = datetime(2026, 11, 30, 9, 0, tzinfo=SHANGHAI) + timedelta(days=day)
        for number, temp in zip((1, 2), temps, strict=True):
            sent = await peer.ask(ZHENG, f"/健康 {number} {temp}")
            assert "已记录" in sent.text or "体温" in sent.text, sent.text
    listed = (await peer.ask(LI, "/隔离 列表")).text.splitlines()
    first = next(line for line in listed if line.startswith("#1 "))
    second = next(line for line in listed if line.startswith("#2 "))
    assert first.endswith("；需核实：连续3天体温相同")
    assert "需核实" not in second
