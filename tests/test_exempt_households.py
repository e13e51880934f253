"""Coverage that means 不漏一户 (issue 15): households vacant (空置), away and reached by
phone (外出) or refused (拒访) are reported as such, count toward coverage, and a
拒访 reaches 数据统计排查组. Over the real OneBot protocol, plus the grammar's table
and property tests."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.runtime import Runtime
from tests.conftest import dump_db
from tests.helpers import collect, outbox_settled
from tests.onebot import OneBotPeer

STAFF = 10002  # staff of 幸福社区, in 数据统计排查组
WORK, STATS = 850001, 850003
# unit -> (its leader's account, registered households), from tests/data/units.csv
UNITS = {
    "1栋1单元": (30011, 18), "1栋2单元": (30012, 18), "2栋1单元": (30021, 24),
    "2栋2单元": (20002, 24), "3栋1单元": (30031, 12), "3栋2单元": (30032, 12),
    "4栋1单元": (STAFF, 30),
}


def _report_module():
    from plugins.checkin import report

    return report


FIELDS = [
    # typed, (households, vacant, away, refused)
    ("已排查20户 空置2 外出1 拒访1", (20, 2, 1, 1)),
    ("空置2户 已排查20户", (20, 2, 0, 0)),
    ("外出一户，拒访一户，已排查二十二户", (22, 0, 1, 1)),
    ("3栋2单元已排查9户空置2拒访1", (9, 2, 0, 1)),
    ("已排查20户 无拒访 空置：3", (20, 3, 0, 0)),
    ("20户 外出=2 无异常", (20, 0, 2, 0)),
]


@pytest.mark.parametrize(("typed", "figures"), FIELDS)
def test_exempt_fields_in_any_order(typed: str, figures: tuple[int, int, int, int]) -> None:
    r = _report_module().parse_report(typed)
    assert (r.households, r.vacant, r.away, r.refused) == figures, typed


@pytest.mark.parametrize(("typed", "code", "part"), [
    ("已排查20户 空置2 空置3", "duplicate_field", "空置3"),
    ("已排查20户 外出abc", "bad_number", "外出abc"),
    ("已排查20户 拒访100001", "too_large", "拒访100001"),
    ("已排查20户 空至2", "unknown_text", "空至2"),
])
def test_bad_exempt_fields_name_the_part(typed: str, code: str, part: str) -> None:
    r = _report_module().parse_report(typed)
    assert (r.code, r.part) == (code, part)


@given(
    counts=st.tuples(*(st.integers(0, 999) for _ in range(4))),
    order=st.permutations(range(4)),
    sep=st.sampled_from([" ", "，", "、", ""]),
    chinese_unit=st.booleans(),
)
def test_any_order_of_the_new_fields_reads_the_same(counts, order, sep, chinese_unit) -> None:
    words = ["已排查", "空置", "外出", "拒访"]
    suffix = "户" if chinese_unit else ""
    parts = [f"{words[i]}{counts[i]}{suffix if i else '户'}" for i in order]
    r = _report_module().parse_report(sep.join(parts))
    assert (r.households, r.vacant, r.away, r.refused) == counts


async def _bind(peer: OneBotPeer) -> None:
    for group, args in ((WORK, "幸福社区 工作群"), (STATS, "全部 数据统计排查组")):
        assert "已将本群登记为" in (await peer.ask(STAFF, f"/绑定群 {args}", group_id=group)).text
    sent = await peer.ask(STAFF, "/排查 发起 返区人员排查 截止 2天", group_id=WORK)
    assert "7个单元，登记138户" in sent.text


async def test_vacant_and_away_households_complete_the_coverage(
    peer: OneBotPeer, street: Runtime, outbox
) -> None:
    await _bind(peer)
    # Every unit reports fewer screened households than registered, the rest vacant or away.
    for unit, (leader, registered) in UNITS.items():
        sent = await peer.ask(leader, f"/打卡 {unit} 已排查{registered - 3}户 空置2 外出1",
                              group_id=WORK)
        assert sent.text.splitlines()[0] == (
            f"{unit}：已排查{registered - 3}户，返区0，隔离0，异常0，空置2，外出1"), sent.text
    progress = (await peer.ask(STAFF, "/进度", group_id=WORK)).text.splitlines()
    assert "单元：已报 7/7（100%）" in progress
    assert "户数：已覆盖 138/138（100%）" in progress
    assert "其中已排查 117，空置或外出 21，拒访 0" in progress
    # More than registered, counting the exempt ones: refused with the figures, nothing written.
    await outbox_settled(street)
    before = dump_db(street)
    sent = await peer.ask(30031, "/打卡 已排查10户 空置2 外出1", group_id=WORK)
    assert sent.text == ("3栋1单元登记12户，报告合计13户（已排查10，空置2，外出1，拒访0）"
                         "超过登记户数，本次未记录，请核对。")
    assert dump_db(street) == before


async def test_a_refusal_alerts_the_statistics_group(
    peer: OneBotPeer, street: Runtime, outbox
) -> None:
    await _bind(peer)
    await peer.group_message(30011, WORK, "/打卡 已排查16户 拒访2")
    by_target = {s.target: s for s in await collect(peer, 2)}
    reply = by_target.pop(f"group:{WORK}")
    assert reply.text.splitlines()[0] == "1栋1单元：已排查16户，返区0，隔离0，异常0，拒访2"
    assert "拒访情况已转数据统计排查组跟进" in reply.text
    alert = by_target.pop(f"group:{STATS}")
    assert alert.text.splitlines()[:2] == [
        "【拒访】#1「返区人员排查」", "幸福社区/1栋1单元：拒访2户（已排查16户）"]
    assert "李秀英" in alert.text  # the reporter (a leader), never a resident
    # The refusal counts as reached but is listed for staff.
    progress = (await peer.ask(STAFF, "/进度", group_id=WORK)).text.splitlines()
    assert "户数：已覆盖 18/138（13%）" in progress
    assert "其中已排查 16，空置或外出 0，拒访 2" in progress
    # The same figures again: no second alert. A changed count: alerted again.
    again = await peer.ask(30011, "/打卡 已排查16户 拒访2", group_id=WORK)
    assert "与上次相同" in again.text
    await peer.no_action(0.3)
    await peer.group_message(30011, WORK, "/打卡 已排查17户 拒访1")
    targets = sorted(s.target for s in await collect(peer, 2))
    assert targets == [f"group:{WORK}", f"group:{STATS}"]
