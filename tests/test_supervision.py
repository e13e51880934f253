"""/督查 (issue 14): the duty record of the check-in obligations over the real OneBot
protocol on a virtual clock: on time, late and missed units are counted exactly, by
community and grid, with the people most often late or missing; exempt and cancelled
units are labelled, not counted; only 纪检监督组 and 管理员 may ask, in private or in
their own group (where the download link goes privately). The other obligations
(incidents, 协查, 预警, duties) and the weekly report: tests/test_supervision_record.py."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from bot.runtime import Runtime
from ground.timeutil import SHANGHAI
from tests.conftest import dump_db
from tests.helpers import freeze_clock
from tests.onebot import OneBotPeer

ADMIN, STAFF, INSPECTOR = 10001, 10002, 10009
WORK, TEAM = 900001, 900002
MONDAY = datetime(2026, 11, 30, 9, 0, tzinfo=SHANGHAI)


def _service():
    from plugins.supervision import service

    return service


@pytest.mark.parametrize(("text", "start", "end"), [
    ("", "2026-11-30", "2026-12-03"), ("本周", "2026-11-30", "2026-12-03"),
    ("上周", "2026-11-23", "2026-11-30"), ("本月", "2026-12-01", "2026-12-03"),
    ("上月", "2026-11-01", "2026-12-01"), ("11-01至11-30", "2026-11-01", "2026-12-01"),
])
def test_periods(text: str, start: str, end: str) -> None:
    now = datetime(2026, 12, 2, 15, 0, tzinfo=SHANGHAI)  # a Wednesday
    p = _service().parse_period(text, now)
    assert (str(p.start.date()), str(p.end.date())) == (start, end)


@pytest.mark.parametrize("text", ["明年", "11-31至12-01", "12-05至12-01", "全部"])
def test_periods_refused(text: str) -> None:
    assert _service().parse_period(text, MONDAY) is None


async def _inspector(street: Runtime) -> None:
    from storage.importer import import_rows, parse_csv_text, validate

    table = f"姓名,账号,工作组,管理员\n纪检员,qq:{INSPECTOR},纪检监督组,否"
    kind, rows = validate(parse_csv_text(table))
    async with street.db.write() as s:
        await import_rows(s, kind, rows)


async def test_the_duty_record_of_a_round(peer: OneBotPeer, street: Runtime) -> None:
    await _inspector(street)
    clock = freeze_clock(street, MONDAY)
    await peer.ask(ADMIN, "/绑定群 幸福社区 工作群", group_id=WORK)
    await peer.ask(ADMIN, "/绑定群 全部 纪检监督组", group_id=TEAM)
    await peer.ask(STAFF, "/排查 发起 返区人员排查 截止 2小时", group_id=WORK)  # due 11:00
    clock.at = MONDAY + timedelta(minutes=30)
    await peer.ask(30011, "/打卡 已排查18户", group_id=WORK)  # on time
    clock.at = MONDAY + timedelta(hours=2, minutes=30)
    await peer.ask(30012, "/打卡 已排查18户", group_id=WORK)  # 30 minutes late
    clock.at = MONDAY + timedelta(hours=3)

    before = dump_db(street)
    for user, text, group, answer in [
        (30011, "/督查", None, street.renderer.render("common/refused")),  # a leader
        (STAFF, "/督查", None, street.renderer.render("common/refused")),  # staff, not 纪检
        (ADMIN, "/督查", WORK, street.renderer.render("supervision/where")),  # names people
        (ADMIN, "/督查 明年", None, None),
    ]:
        sent = await peer.ask(user, text, group_id=group)
        assert sent.text == answer or (answer is None and sent.text.startswith("没有看懂")), text
    assert dump_db(street) == before

    for user, group in ((ADMIN, None), (INSPECTOR, None), (INSPECTOR, TEAM)):
        if group is None:
            lines = (await peer.ask(user, "/督查 本周")).text.splitlines()
            assert lines[-2].startswith("完整记录（XLSX，1小时内有效") and \
                "/console/download/" in lines[-1]
        else:  # in the 纪检监督组 group: the link privately, the summary in the group
            await peer.group_message(user, group, "/督查 本周")
            link, answer = await peer.expect_send(), await peer.expect_send()
            assert link.target == f"private:{user}" and "/console/download/" in link.text
            assert answer.target == f"group:{group}" and "/console/" not in answer.text
            lines = answer.text.splitlines()
            assert lines[-1] == "完整记录（XLSX）的下载链接已私聊发给你。"
        assert lines[0] == "【督查】本周（11-30 00:00 起）"
        assert lines[1] == "排查打卡：7 项，按时 1（14%），逾期 1，未报 5"
        assert lines[2] == "幸福社区：按时率 14%（1/7），逾期 1，未完成 5"
        assert lines[3] == "按网格：幸福社区/第一网格 25%；幸福社区/第二网格 0%"
        assert lines[4:7] == [
            "事件受理：0 起，15分钟内 0，超时 0，未受理 0",
            "协查函：0 件，24小时内完成 0，逾期完成 0，未完成 0",
            "预警确认：0 个工作群次，2小时内 0，超时 0，未确认 0",
        ]
        people = lines[7]
        assert people.startswith("逾期或未完成最多：")
        for who in ("孙丽（单元长）逾期0、未完成1", "吴静（单元长）逾期0、未完成1",
                    "郑磊（单元长）逾期0、未完成1"):
            assert who in people
        assert "李秀英" not in people  # on time
    # Before the deadline nothing is due yet: an open round is not counted as missed.
    last_week = (await peer.ask(ADMIN, "/督查 上周")).text.splitlines()
    assert last_week[1] == "这段时间没有到期的排查打卡。"


def test_late_minutes_and_ranking() -> None:
    s = _service()
    due = MONDAY
    rows = [
        s.Obligation("排查打卡", "#1 1栋1单元", "幸福社区", "第一网格", "甲", "单元长", due,
                     due + timedelta(minutes=45), s.LATE),
        s.Obligation("排查打卡", "#2 1栋1单元", "幸福社区", "第一网格", "甲", "单元长", due,
                     None, s.MISSED),
        s.Obligation("排查打卡", "#1 1栋2单元", "幸福社区", "第一网格", "乙", "单元长", due,
                     due - timedelta(minutes=5), s.ON_TIME),
    ]
    assert rows[0].late_minutes == 45 and rows[2].late_minutes == 0
    summary = s.summarize(s.parse_period("本周", MONDAY), rows)
    assert (summary.all.total, summary.all.on_time, summary.all.late, summary.all.missed) == \
        (3, 1, 1, 1)
    assert [(p.name, p.late, p.missed) for p in summary.people] == [("甲", 1, 1)]


async def test_exempt_and_cancelled_are_labelled_not_missed(
    peer: OneBotPeer, street: Runtime
) -> None:
    """A unit with no registered household is exempt; a round ended before its deadline
    cancels what was unreported: both labelled in the record, neither counted."""
    from sqlalchemy import text

    clock = freeze_clock(street, MONDAY)
    await peer.ask(ADMIN, "/绑定群 幸福社区 工作群", group_id=WORK)
    await peer.ask(STAFF, "/排查 发起 返区人员排查 截止 2小时", group_id=WORK)  # #1, 11:00
    await peer.ask(STAFF, "/排查 发起 核酸排查 截止 3小时", group_id=WORK)  # #2, 12:00
    async with street.db.write() as s:  # 4栋1单元 holds no household in #1's snapshot
        await s.exec(text(  # type: ignore[call-overload]
            "UPDATE checkinroundunit SET households = 0 WHERE round_id = 1 AND unit_id = "
            "(SELECT u.id FROM unit u JOIN building b ON b.id = u.building_id "
            "WHERE b.number = 4 AND u.number = 1)"))
    clock.at = MONDAY + timedelta(hours=1)
    asked = await peer.ask(STAFF, "/结束 #2", group_id=WORK)
    assert "未报" in asked.text
    await peer.ask(STAFF, "/确认", group_id=WORK)
    clock.at = MONDAY + timedelta(hours=4)

    lines = (await peer.ask(ADMIN, "/督查")).text.splitlines()
    assert lines[1] == "排查打卡：6 项，按时 0（0%），逾期 0，未报 6"
    assert "另有 8 项免除或取消，不计入。" in lines
    s = _service()
    async with street.db.read() as session:
        record = await s.duty_record(session, s.parse_period("本周", clock.at), clock.at)
    labelled = [(o.ref, o.outcome, o.note) for o in record if not o.counted]
    assert labelled[0] == ("#1 4栋1单元", s.EXEMPT, "无登记住户")
    assert [x[1:] for x in labelled[1:]] == [(s.CANCELLED, "轮次提前结束")] * 7


async def test_a_chase_by_staff_counts_as_a_reminder_of_the_units_still_open(
    peer: OneBotPeer, street: Runtime
) -> None:
    """/催报 at 10:00 chases every unit still unreported: a unit that reported before
    it owes no reminder, one that reported after needed one, one that never did too."""
    clock = freeze_clock(street, MONDAY)
    await peer.ask(ADMIN, "/绑定群 幸福社区 工作群", group_id=WORK)
    await peer.ask(STAFF, "/排查 发起 返区人员排查 截止 2小时", group_id=WORK)  # #1, 11:00
    clock.at = MONDAY + timedelta(minutes=30)
    await peer.ask(30011, "/打卡 1栋1单元 已排查18户", group_id=WORK)
    clock.at = MONDAY + timedelta(hours=1)
    sent = await peer.ask(STAFF, "/催报", group_id=WORK)
    while "个工作群催报" not in sent.text:  # the @-mentions of the chase come first
        sent = await peer.expect_send()
    clock.at = MONDAY + timedelta(hours=1, minutes=30)
    await peer.ask(30012, "/打卡 1栋2单元 已排查18户", group_id=WORK)
    clock.at = MONDAY + timedelta(hours=3)
    s = _service()
    async with street.db.read() as session:
        record = await s.duty_record(session, s.parse_period("本周", clock.at), clock.at)
    reminders = {o.ref: (o.outcome, o.reminders) for o in record}
    assert reminders["#1 1栋1单元"] == (s.ON_TIME, 0)
    assert reminders["#1 1栋2单元"] == (s.ON_TIME, 1)
    assert reminders["#1 2栋1单元"] == (s.MISSED, 1)
