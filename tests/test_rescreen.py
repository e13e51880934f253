"""Re-screening (重排, issue 15) over the real OneBot protocol: staff reopen units
of an open round, their leaders are @-mentioned again, the earlier reports stay in
the history but stop counting, coverage drops and recovers; and the grammar."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.runtime import Runtime
from tests.conftest import dump_db
from tests.helpers import bind_and_open, collect, outbox_settled
from tests.onebot import OneBotPeer

STAFF = 10002
WORK = 870001


def _syntax():
    from plugins.checkin import syntax

    return syntax


@pytest.mark.parametrize(("text", "round_no", "scopes", "reason"), [
    ("#1 3-1、3-2 新增风险区", 1, ["3栋1单元", "3栋2单元"], "新增风险区"),
    ("3栋", None, ["3栋"], ""),
    ("第2轮 幸福社区/3栋，4栋 复查", 2, ["幸福社区/3栋", "4栋"], "复查"),
    ("＃3 3栋2单元", 3, ["3栋2单元"], ""),
])
def test_rescreen_grammar(text: str, round_no, scopes: list[str], reason: str) -> None:
    args = _syntax().parse_rescreen(text)
    assert args.round_no == round_no and args.reason == reason
    assert [str(s) for s in args.scopes] == scopes


@pytest.mark.parametrize("text", ["", "#1", "#0 3-1", "#1 ??? 原因", "#1 3-1 " + "长" * 101])
def test_rescreen_grammar_refuses(text: str) -> None:
    assert _syntax().parse_rescreen(text) is None


async def test_reopened_units_are_asked_again_and_coverage_recovers(
    peer: OneBotPeer, street: Runtime, outbox
) -> None:
    await bind_and_open(peer, STAFF, WORK)
    for leader in (30031, 30032):
        assert "已记入 #1" in (await peer.ask(leader, "/打卡 已排查12户", group_id=WORK)).text
    progress = (await peer.ask(STAFF, "/进度", group_id=WORK)).text.splitlines()
    assert "单元：已报 2/7（28%）" in progress and "户数：已覆盖 24/138（17%）" in progress

    # Refused: nothing reopened, nothing written.
    await outbox_settled(street)
    before = dump_db(street)
    for text, answer in [
        ("/排查 重排", "没有看懂"),
        ("/排查 重排 #9 3-1", "没有找到排查 #9"),
        ("/排查 重排 #1 9栋1单元", "没有找到"),
    ]:
        sent = await peer.ask(STAFF, text, group_id=WORK)
        assert answer in sent.text or text == "/排查 重排", (text, sent.text)
    refused = await peer.ask(30031, "/排查 重排 #1 3-1", group_id=WORK)
    assert refused.text == street.renderer.render("common/refused")
    assert dump_db(street) == before

    # Reopen both: the reply, and one @-mention push to their leaders in the work group.
    await peer.group_message(STAFF, WORK, "/排查 重排 #1 3-1、3-2 新增风险区")
    sends = await collect(peer, 2)
    reply = next(s for s in sends if s.text.startswith("已重排"))
    assert reply.text.splitlines()[0] == (
        "已重排 #1「返区人员排查」的 2 个单元：3栋1单元、3栋2单元。")
    assert "新增风险区" not in reply.text  # free text is not echoed in a group
    push = next(s for s in sends if s.text.startswith("【重排】"))
    assert "以下单元请重新排查后再打卡" in push.text
    assert set(push.ats) == {"30031", "30032", "20003"}  # unit leaders and 3栋's 楼长
    progress = (await peer.ask(STAFF, "/进度", group_id=WORK)).text.splitlines()
    assert "单元：已报 0/7（0%）" in progress and "户数：已覆盖 0/138（0%）" in progress
    missing = await peer.ask(STAFF, "/未报", group_id=WORK)
    assert "3栋1单元" in missing.text and "3栋2单元" in missing.text
    while "4栋1单元" not in missing.text:  # the later @-batches, if any
        missing = await peer.expect_send()

    # They report again: a new report (not an amendment), and coverage recovers.
    again = await peer.ask(30031, "/打卡 已排查11户 空置1", group_id=WORK)
    assert "已记入 #1" in again.text and "已更正" not in again.text
    await peer.ask(30032, "/打卡 已排查12户", group_id=WORK)
    progress = (await peer.ask(STAFF, "/进度", group_id=WORK)).text.splitlines()
    assert "单元：已报 2/7（28%）" in progress and "户数：已覆盖 24/138（17%）" in progress
    # Withdrawing the new report never brings back the one from before the 重排.
    await peer.ask(30031, "/打卡 撤销", group_id=WORK)
    progress = (await peer.ask(STAFF, "/进度", group_id=WORK)).text.splitlines()
    assert "单元：已报 1/7（14%）" in progress


async def test_a_roster_change_mid_round_is_shown_and_adopted_by_rescreening(
    peer: OneBotPeer, street: Runtime, outbox
) -> None:
    from pathlib import Path

    from storage.importer import import_rows, parse_csv_text, validate

    await bind_and_open(peer, STAFF, WORK)
    # The roster is re-imported with 3栋1单元 at 14 households (was 12).
    units = Path(__file__).with_name("data") / "units.csv"
    text = units.read_text(encoding="utf-8").replace("3栋,1单元,12", "3栋,1单元,14")
    kind, rows = validate(parse_csv_text(text))
    async with street.db.write() as s:
        await import_rows(s, kind, rows)
    progress = (await peer.ask(STAFF, "/进度", group_id=WORK)).text.splitlines()
    assert "户数：已覆盖 0/138（0%）" in progress  # the round keeps its snapshot
    assert "名册已更新：1个单元户数变化（本轮仍按发起时的户数，/排查 重排 可采用新户数）" \
        in progress
    await peer.group_message(STAFF, WORK, "/排查 重排 #1 3-1")
    sends = await collect(peer, 2)
    reply = next(s for s in sends if s.text.startswith("已重排"))
    assert "1个单元采用名册的新户数" in reply.text
    progress = (await peer.ask(STAFF, "/进度", group_id=WORK)).text.splitlines()
    assert "户数：已覆盖 0/140（0%）" in progress
    assert not any(line.startswith("名册已更新") for line in progress)
    sent = await peer.ask(30031, "/打卡 已排查14户", group_id=WORK)  # 14 now fits
    assert "已记入 #1" in sent.text


@given(
    round_no=st.one_of(st.none(), st.integers(1, 9999)),
    units=st.lists(st.tuples(st.integers(1, 99), st.integers(1, 9)), min_size=1, max_size=5,
                   unique=True),
    sep=st.sampled_from(["、", ",", "，"]),
    style=st.sampled_from(["{b}-{u}", "{b}栋{u}单元", "{b}号楼{u}单元"]),
    reason=st.sampled_from(["", "新增风险区", "复查 夜间"]),
)
def test_any_unit_list_reads_back(round_no, units, sep, style, reason) -> None:
    head = f"#{round_no} " if round_no is not None else ""
    listed = sep.join(style.format(b=b, u=u) for b, u in units)
    args = _syntax().parse_rescreen(f"{head}{listed} {reason}".strip())
    assert args.round_no == round_no and args.reason == reason
    assert [(s.unit.building, s.unit.unit) for s in args.scopes] == units
