"""Spot checks (抽查, issue 15) over the real OneBot protocol: a drawn unit's figures
go privately to its building's 楼长 (or a staff member when the 楼长 reported it),
the answer is recorded, a 不符 reaches the staff member who asked and shows in
/进度; bad answers change nothing."""

from __future__ import annotations

import pytest

from bot.runtime import Runtime
from tests.conftest import dump_db
from tests.helpers import bind_and_open, collect, outbox_settled
from tests.onebot import OneBotPeer

STAFF = 10002
WORK = 880001


def _spot():
    from plugins.checkin import spot

    return spot


@pytest.mark.parametrize(("text", "expected"), [
    ("", (None, 3)), ("#2", (2, 3)), ("5", (None, 5)), ("#2 5", (2, 5)), ("＃2 20", (2, 20)),
])
def test_draw_grammar(text: str, expected) -> None:
    args = _spot().parse_draw(text)
    assert (args.round_no, args.count) == expected


@pytest.mark.parametrize("text", ["0", "21", "#x", "全部", "#2 5 6"])
def test_draw_grammar_refuses(text: str) -> None:
    assert _spot().parse_draw(text) is None


@pytest.mark.parametrize(("text", "expected"), [
    ("12 属实", (12, "属实", "")), ("#12 不符 实际只查了10户", (12, "不符", "实际只查了10户")),
    ("12 不一致", (12, "不符", "")), ("12 真实", (12, "属实", "")),
])
def test_answer_grammar(text: str, expected) -> None:
    args = _spot().parse_answer(text)
    assert (args.number, args.verdict, args.note) == expected


@pytest.mark.parametrize("text", ["", "12", "属实", "12 也许", "x 属实", "12 不符 " + "长" * 501])
def test_answer_grammar_refuses(text: str) -> None:
    assert _spot().parse_answer(text) is None


async def test_a_spot_check_reaches_the_building_leader_and_a_mismatch_shows(
    peer: OneBotPeer, street: Runtime, outbox
) -> None:
    await bind_and_open(peer, STAFF, WORK)
    nothing = await peer.ask(STAFF, "/抽查", group_id=WORK)
    assert nothing.text == "排查 #1 还没有可以抽查的报告（或已报单元都在核实中）。"
    await peer.ask(30031, "/打卡 已排查12户", group_id=WORK)
    # Only one unit is reported: asking for 5 draws that one, and asks 3栋's 楼长.
    await peer.group_message(STAFF, WORK, "/抽查 #1 5")
    by_target = {s.target: s for s in await collect(peer, 2)}
    reply = by_target.pop(f"group:{WORK}")
    assert reply.text.startswith("已抽查 #1「返区人员排查」的 1 个单元：3栋1单元")
    asked = by_target.pop("private:20003")  # 刘洋, 楼长 of 3栋
    assert asked.text.startswith("【抽查核实】#1「返区人员排查」3栋1单元报告：已排查12户")
    assert "/核实 1 属实" in asked.text
    # A unit with a check still open is not drawn twice.
    again = await peer.ask(STAFF, "/抽查 #1", group_id=WORK)
    assert "还没有可以抽查的报告" in again.text

    await outbox_settled(street)
    before = dump_db(street)
    for user, text, group, answer in [
        (20003, "/核实 1 不符 实际只查了10户", WORK, street.renderer.render("common/private_only")),
        (20003, "/核实 99 属实", None, "没有找到请您核实的抽查 99。"),
        (30031, "/核实 1 属实", None, "没有找到请您核实的抽查 1。"),  # not the one asked
    ]:
        assert (await peer.ask(user, text, group_id=group)).text == answer, text
    assert "没有看懂" in (await peer.ask(20003, "/核实 1 也许")).text
    assert dump_db(street) == before

    await peer.private_message(20003, "/核实 1 不符 实际只查了10户")
    by_target = {s.target: s for s in await collect(peer, 2)}
    assert by_target.pop("private:20003").text == (
        "已记录抽查 1（#1 3栋1单元）：不符。已私信告知发起抽查的工作人员。")
    told = by_target.pop(f"private:{STAFF}")
    assert told.text.startswith("【抽查不符】#1「返区人员排查」3栋1单元")
    assert "说明：实际只查了10户" in told.text
    progress = (await peer.ask(STAFF, "/进度", group_id=WORK)).text.splitlines()
    assert "抽查 1 个：属实 0，不符 1（3栋1单元），待核实 0" in progress
    assert "实际只查了10户" not in "\n".join(progress)  # the 说明 stays private


async def test_a_building_leaders_own_report_is_checked_by_staff(
    peer: OneBotPeer, street: Runtime, outbox
) -> None:
    await bind_and_open(peer, STAFF, WORK)
    await peer.ask(20002, "/打卡 2-2 已排查20户", group_id=WORK)  # 陈伟, 楼长 of 2栋
    await peer.group_message(STAFF, WORK, "/抽查")
    targets = sorted(s.target for s in await collect(peer, 2))
    assert targets[0] == f"group:{WORK}"
    assert targets[1] in {"private:10001", "private:10002", "private:10003"}


async def _one_check_drawn(peer: OneBotPeer, street: Runtime, outbox):
    """3栋1单元 reported and drawn (its 楼长 asked), on a frozen clock, with a scheduler
    that is not started: the test fires the check's items."""
    from bot.scheduler import Scheduler
    from plugins.checkin import jobs
    from tests.helpers import TEST_EPOCH, freeze_clock

    clock = freeze_clock(street, TEST_EPOCH, outbox)
    sched = Scheduler.from_hooks(street, jobs.HOOKS)
    street.scheduler = sched
    await bind_and_open(peer, STAFF, WORK)
    await peer.ask(30031, "/打卡 已排查12户", group_id=WORK)
    await peer.group_message(STAFF, WORK, "/抽查")
    await collect(peer, 2)
    return clock, sched


async def test_an_unanswered_check_is_reminded_once_then_escalated(
    peer: OneBotPeer, street: Runtime, outbox
) -> None:
    from tests.helpers import fire_due, scheduled_items

    clock, sched = await _one_check_drawn(peer, street, outbox)
    [remind] = await scheduled_items(street, "checkin.spot_remind")
    [escalate] = await scheduled_items(street, "checkin.spot_escalate")
    assert (remind.due_at - escalate.due_at).total_seconds() == -2 * 3600

    assert await fire_due(sched, clock, remind) is True
    reminded = await peer.expect_send()
    assert reminded.target == "private:20003" and reminded.text.startswith("【抽查核实提醒】")
    assert await fire_due(sched, clock, escalate) is True
    escalated = await peer.expect_send()
    assert escalated.target == f"private:{STAFF}" and escalated.text.startswith("【抽查未核实】")
    await peer.no_action(0.3)


async def test_an_answered_check_is_neither_reminded_nor_escalated(
    peer: OneBotPeer, street: Runtime, outbox
) -> None:
    from tests.helpers import fire_due, scheduled_items

    clock, sched = await _one_check_drawn(peer, street, outbox)
    assert "属实" in (await peer.ask(20003, "/核实 1 属实")).text
    for kind in ("checkin.spot_remind", "checkin.spot_escalate"):
        [item] = await scheduled_items(street, kind)
        assert await fire_due(sched, clock, item) is True
    await peer.no_action(0.4)
    progress = (await peer.ask(STAFF, "/进度", group_id=WORK)).text.splitlines()
    assert "抽查 1 个：属实 1，不符 0，待核实 0" in progress
