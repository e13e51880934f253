"""接龙 lists (issue 15): a pasted, numbered list is one /打卡 per line. The grammar's
numbering styles, full-width forms, blank lines and trailing emoji (table and
property tests), and the scenario over the real OneBot protocol: 30 lines with 3
bad ones record 27 units and name the 3; the same list again records nothing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.runtime import Runtime
from tests.conftest import dump_db
from tests.onebot import OneBotPeer

STAFF = 10002
WORK = 860001


def _relay():
    from plugins.checkin import relay

    return relay


LINES = [
    # a pasted line, its number, the unit and households it reports
    ("1. 3栋1单元 已排查12户", 1, "3栋1单元", 12),
    ("2、3栋2单元 已排查10户", 2, "3栋2单元", 10),
    ("3) 4-1 30户", 3, "4栋1单元", 30),
    ("(4) 1栋1单元 18户", 4, "1栋1单元", 18),
    ("（5）1栋2单元 18户", 5, "1栋2单元", 18),
    ("⑥ 2栋1单元 24户", 6, "2栋1单元", 24),
    ("７．2栋2单元 已排查２４户", 7, "2栋2单元", 24),
    ("8，3-2 12户 👍", 8, "3栋2单元", 12),
    ("9. 3-1 12户 ✅✅", 9, "3栋1单元", 12),
    ("10. 1-1 18户[强]", 10, "1栋1单元", 18),
    ("11: 1-2 18户 👍🏻", 11, "1栋2单元", 18),
    ("  12.   2-1  24户  ", 12, "2栋1单元", 24),
]


@pytest.mark.parametrize(("line", "number", "unit", "households"), LINES)
def test_numbering_styles_and_trailing_emoji(
    line: str, number: int, unit: str, households: int
) -> None:
    [item] = _relay().items([line])
    assert item.number == number
    assert str(item.report.unit) == unit and item.report.households == households


def test_unnumbered_lines_are_not_items() -> None:
    found = _relay().items(["3栋排查情况", "", "1. 3-1 12户", "   ", "以上", "2. 3-2 10户"])
    assert [i.number for i in found] == [1, 2]
    assert not _relay().is_relay("\n3栋排查情况\n大家辛苦了")
    assert _relay().is_relay(" 3栋\n1. 3-1 12户") and _relay().is_relay("1. 3-1 12户")


@given(
    style=st.sampled_from(["{n}. ", "{n}、", "({n})", "（{n}）", "{n}) ", "{c}"]),
    n=st.integers(1, 20),
    households=st.integers(0, 999),
    emoji=st.sampled_from(["", " 👍", "✅", " [强]", " 🙏🏻", "❤️"]),
    width=st.booleans(),
)
def test_any_numbering_reads_the_same_report(style, n, households, emoji, width) -> None:
    prefix = style.format(n=n, c="①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳"[n - 1])
    if width:  # full-width digits, as some keyboards type them
        prefix = prefix.translate({ord(d): ord(d) + 0xFEE0 for d in "0123456789"})
    [item] = _relay().items([f"{prefix}3栋2单元 已排查{households}户{emoji}"])
    assert item.number == n and item.report.households == households


async def _street_of_30(street: Runtime) -> list[str]:
    """30 more units (5栋–9栋, 6 each, 20 households) in 幸福社区/第二网格."""
    from storage.importer import import_rows, parse_csv_text, validate

    rows = ["社区,网格,楼栋,单元,户数,楼长,楼长账号,单元长,单元长账号"]
    units = []
    for b in range(5, 10):
        for u in range(1, 7):
            rows.append(f"幸福社区,第二网格,{b}栋,{u}单元,20,,,,")
            units.append(f"{b}栋{u}单元")
    kind, parsed = validate(parse_csv_text("\n".join(rows)))
    async with street.db.write() as s:
        await import_rows(s, kind, parsed)
    return units


async def test_a_thirty_line_relay_with_three_bad_lines(
    peer: OneBotPeer, street: Runtime
) -> None:
    units = await _street_of_30(street)
    await peer.ask(STAFF, "/绑定群 幸福社区/第二网格 工作群", group_id=WORK)
    opened = await peer.ask(STAFF, "/排查 发起 返区人员排查 截止 2天", group_id=WORK)
    assert "已发起排查 #1" in opened.text
    lines = ["#接龙 第二网格今日排查", ""]
    for i, unit in enumerate(units, start=1):
        figures = f"已排查{18}户 空置2"
        if i == 5:
            figures = "已排查18户 反区1"  # a typo
        elif i == 12:
            unit = "99栋1单元"  # no such unit
        elif i == 20:
            figures = "已排查20户 空置2"  # 22 > 20 registered
        lines.append(f"{i}. {unit} {figures}{' 👍' if i % 7 == 0 else ''}")
    text = "\n".join(lines)
    sent = await peer.ask(STAFF, text, group_id=WORK)
    reply = sent.text.splitlines()
    assert reply[0] == "接龙已处理：新记入 27 个单元。"
    assert reply[1] == "未记录 3 条："
    assert reply[2] == "第5条：看不懂“反区1”，是不是“返区1”"
    assert reply[3] == "第12条：没有找到单元“99栋1单元”"
    assert reply[4] == "第20条：超过8栋2单元的登记户数（20户）"
    progress = (await peer.ask(STAFF, "/进度", group_id=WORK)).text.splitlines()
    assert "单元：已报 27/33（81%）" in progress  # 3栋 and 4栋 are in the grid too
    # The same list again (a second tap, a re-post): nothing new is written.
    before = dump_db(street)
    again = await peer.ask(STAFF, text, group_id=WORK)
    assert again.text.splitlines()[0] == "接龙已处理：新记入 0 个单元，27 个与上次相同。"
    assert dump_db(street) == before
    # Fixed lines re-posted: only those are new.
    fixed = text.replace("反区1", "返区1").replace("8栋2单元 已排查20户", "8栋2单元 已排查18户")
    third = await peer.ask(STAFF, fixed.replace("#接龙", "/接龙 #1"), group_id=WORK)
    assert third.text.splitlines()[:3] == [
        "接龙已处理：新记入 2 个单元，27 个与上次相同。", "未记录 1 条：",
        "第12条：没有找到单元“99栋1单元”"]


async def test_a_leader_relay_is_checked_line_by_line(
    peer: OneBotPeer, street: Runtime
) -> None:
    """A leader's list: their own unit goes in, someone else's is refused by name;
    a unit listed twice is refused the second time; chatter with 接龙 is left alone."""
    await peer.ask(STAFF, "/绑定群 幸福社区 工作群", group_id=WORK)
    await peer.ask(STAFF, "/排查 发起 返区人员排查 截止 2天", group_id=WORK)
    sent = await peer.ask(30011, "/接龙\n1. 1-1 18户\n2. 1-2 18户\n3. 1-1 17户", group_id=WORK)
    assert sent.text.splitlines() == [
        "接龙已处理：新记入 1 个单元。", "未记录 2 条：",
        "第2条：您不是1栋2单元的单元长或楼长", "第3条：与第1条是同一个单元",
        "其他条已记录，改好后可以重发整份接龙，已记录的不会重复。"]
    before = dump_db(street)
    await peer.group_message(30011, WORK, "#接龙 大家记得明天交表")
    await peer.no_action(0.4)
    bare = await peer.ask(30011, "/接龙", group_id=WORK)
    assert bare.text == street.renderer.render("usage/checkin_relay")
    assert dump_db(street) == before


@given(
    pii=st.sampled_from(["13812345678", "138 1234 5678", "110101199001011234", "301室",
                         "１３８１２３４５６７８"]),
    where=st.sampled_from(["{pii}", "已排查18户 {pii}", "3栋1单元 {pii} 18户"]),
)
def test_a_refused_line_never_echoes_a_phone_an_id_or_a_room(pii: str, where: str) -> None:
    """A refusal names the part it could not read, masked: the reply goes to a group."""
    import re
    from types import SimpleNamespace

    from messages.render import Renderer

    [item] = _relay().items([f"1. {where.format(pii=pii)}"])
    assert not hasattr(item.report, "households")  # refused
    done = SimpleNamespace(new=0, amended=0, same=0,
                           failed=[(item, "parse", {"e": item.report})])
    out = Renderer().render("checkin/relay_list", d=done)
    folded = out.translate({ord(d): ord(d) - 0xFEE0 for d in "０１２３４５６７８９"})
    assert not re.search(r"1[3-9]\d{9}|1[3-9]\d \d{4} \d{4}|\d{17}[0-9X]|\d+室", folded), out
    single = Renderer().render("checkin/report_error", e=item.report)
    assert not re.search(r"1[3-9]\d{9}|\d{17}[0-9X]|\d+室", single.translate(
        {ord(d): ord(d) - 0xFEE0 for d in "０１２３４５６７８９"})), single
