"""Tests for ground.grammar: table tests of the grammar plus hypothesis properties."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ground.grammar import (
    MAX_COUNT,
    MAX_DURATION,
    SHANGHAI,
    ScopeExpr,
    UnitRef,
    cn_to_int,
    normalize,
    parse_building,
    parse_date,
    parse_duration,
    parse_scope,
    parse_unit,
    parse_when,
)


# The report grammar belongs to the check-in plugin, and a plugin module is only
# imported inside tests (NoneBot must load it first): reached through these.
def _report_module():
    from plugins.checkin import report

    return report


def parse_report(text: str):
    return _report_module().parse_report(text)


def Report(*args, **kwargs):
    return _report_module().Report(*args, **kwargs)


def ParseError(*args):
    return _report_module().ParseError(*args)

PROPERTY_SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

# 2026-11-29 20:00 in Shanghai, written in Shanghai time and in UTC: both must behave the same.
NOW = datetime(2026, 11, 29, 20, 0, tzinfo=SHANGHAI)
NOW_UTC = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
# 01:00 on 2026-11-30 in Shanghai is still 2026-11-29 in UTC: "today" must be Shanghai's.
NOW_UTC_OTHER_DAY = datetime(2026, 11, 29, 17, 0, tzinfo=UTC)


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


# ---------------------------------------------------------------------------------------------
# Helpers shared by the property tests
# ---------------------------------------------------------------------------------------------

_CN_DIGITS = "零一二三四五六七八九"


def _cn_section(n: int, leading: bool) -> str:
    """Standard Chinese numeral for 1..9999 (十二 rather than 一十二 when ``leading``)."""
    out = ""
    zero = False
    for place, name in ((1000, "千"), (100, "百"), (10, "十"), (1, "")):
        digit = n // place % 10
        if digit:
            if zero:
                out += "零"
                zero = False
            out += _CN_DIGITS[digit] + name
        elif out:
            zero = True
    if leading and out.startswith("一十"):
        out = out[1:]
    return out


def to_cn(n: int) -> str:
    """Standard Chinese numeral for 0..99999999."""
    if n == 0:
        return "零"
    high, low = divmod(n, 10_000)
    out = _cn_section(high, leading=True) + "万" if high else ""
    if low:
        if high and low < 1000:
            out += "零"
        out += _cn_section(low, leading=not high)
    return out


def to_fullwidth(s: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "0" <= c <= "9" else c for c in s)


numeral_style = st.sampled_from(["ascii", "fullwidth", "cn"])


def render_number(n: int, style: str) -> str:
    if style == "cn":
        return to_cn(n)
    if style == "fullwidth":
        return to_fullwidth(str(n))
    return str(n)


units = st.builds(UnitRef, st.integers(1, 999), st.integers(1, 999))
counts = st.integers(0, MAX_COUNT)

# Text drawn from the grammar's own alphabet finds far more interesting corners than st.text().
GRAMMAR_ALPHABET = list(
    "0123456789０１２３〇零一二两三四五六七八九十百千万半"
    "栋幢号楼单元户#＃第轮已排查返区隔离异常备注无人"
    ":：,，、;；/／-~—至 　\u200b"
    "全部幸福社区村小区居委会网格今明后昨天点时分钟小时个月日年"
)
GRAMMAR_WORDS = [
    "已排查", "排查", "返区", "隔离", "异常", "备注", "单元", "号楼", "网格", "社区", "全部",
    "今天", "明天", "后天", "小时", "分钟", "第", "轮", "户", "栋", ":", "18:00", "3-2", "#",
]  # fmt: skip
grammar_text = st.lists(
    st.one_of(st.sampled_from(GRAMMAR_ALPHABET), st.sampled_from(GRAMMAR_WORDS)), max_size=25
).map("".join)
any_text = st.one_of(st.text(max_size=60), grammar_text)

aware_now = st.builds(
    lambda moment, offset: moment.replace(tzinfo=UTC).astimezone(
        timezone(timedelta(minutes=offset))
    ),
    st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2099, 12, 30)),
    st.integers(-12 * 60, 14 * 60),
)


# ---------------------------------------------------------------------------------------------
# normalize
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ""),
        ("   ", ""),
        ("３栋２单元", "3栋2单元"),
        ("  a \t\n b  ", "a b"),
        ("a\u3000b", "a b"),
        ("已\u200b排查", "已排查"),
        ("3、8栋", "3,8栋"),
        ("3，8栋", "3,8栋"),
        ("备注：x", "备注:x"),
        ("；", ";"),
        ("幸福社区／3栋", "幸福社区/3栋"),
        ("＃３", "#3"),
        ("3—8栋", "3-8栋"),
        ("3–8栋", "3-8栋"),
        ("3－8栋", "3-8栋"),
        ("3～8栋", "3-8栋"),
        ("3~8栋", "3-8栋"),
        ("3〜8栋", "3-8栋"),
        ("3至8栋", "3-8栋"),
        ("三至八栋", "三-八栋"),
        # Not directly between numerals: left alone.
        ("3 至 8", "3 至 8"),
        ("3-2 至 今天24:00", "3-2 至 今天24:00"),
        ("3栋—8栋", "3栋—8栋"),
        ("ＡＢＣ", "ABC"),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


@PROPERTY_SETTINGS
@given(any_text)
def test_normalize_is_idempotent(text: str) -> None:
    once = normalize(text)
    assert isinstance(once, str)
    assert normalize(once) == once
    assert once == once.strip()
    assert "  " not in once


# ---------------------------------------------------------------------------------------------
# cn_to_int
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("24", 24),
        ("007", 7),
        ("２４", 24),
        (" 3 ", 3),
        ("零", 0),
        ("〇", 0),
        ("一", 1),
        ("两", 2),
        ("三", 3),
        ("九", 9),
        ("十", 10),
        ("十二", 12),
        ("二十", 20),
        ("二十四", 24),
        ("一百", 100),
        ("一百零五", 105),
        ("一百一十", 110),
        ("一百十", 110),
        ("一百五", 150),
        ("两百", 200),
        ("两千", 2000),
        ("一千零五", 1005),
        ("一千零五十", 1050),
        ("三千二", 3200),
        ("九千九百九十九", 9999),
        ("一万", 10_000),
        ("一万零五", 10_005),
        ("两万五", 25_000),
        ("一万二千", 12_000),
        ("十万", 100_000),
        ("一百万", 1_000_000),
        ("二〇二六", 2026),
        ("一〇五", 105),
        ("零五", 5),
    ],
)
def test_cn_to_int_accepts(text: str, expected: int) -> None:
    assert cn_to_int(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "", " ", "abc", "-1", "+1", "1.5", "1,000", "3十", "十3", "十十", "百", "千", "万",
        "一百零", "一百零十", "一千零五百", "零五十", "两两", "一万万", "一万五百", "十两两",
        "3 4", "二十四户", "½",
    ],
)  # fmt: skip
def test_cn_to_int_rejects(text: str) -> None:
    assert cn_to_int(text) is None


def test_cn_to_int_huge_digit_string_is_none_not_error() -> None:
    assert cn_to_int("9" * 10_000) is None
    assert cn_to_int("一" * 10_000) is None


@PROPERTY_SETTINGS
@given(st.integers(0, 99_999_999))
def test_cn_to_int_round_trips_standard_numerals(n: int) -> None:
    assert cn_to_int(to_cn(n)) == n
    assert cn_to_int(str(n)) == n
    assert cn_to_int(to_fullwidth(str(n))) == n


@PROPERTY_SETTINGS
@given(any_text)
def test_cn_to_int_is_total(text: str) -> None:
    result = cn_to_int(text)
    assert result is None or (isinstance(result, int) and result >= 0)


# ---------------------------------------------------------------------------------------------
# Units and buildings
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3栋2单元", UnitRef(3, 2)),
        ("3-2", UnitRef(3, 2)),
        ("3号楼2单元", UnitRef(3, 2)),
        ("3幢2单元", UnitRef(3, 2)),
        ("3号2单元", UnitRef(3, 2)),
        ("3栋二单元", UnitRef(3, 2)),
        ("三栋二单元", UnitRef(3, 2)),
        ("十二栋三单元", UnitRef(12, 3)),
        ("３栋２单元", UnitRef(3, 2)),
        ("３－２", UnitRef(3, 2)),
        ("3—2", UnitRef(3, 2)),
        ("3栋 2单元", UnitRef(3, 2)),
        ("3 栋 2 单元", UnitRef(3, 2)),
        ("  3栋2单元  ", UnitRef(3, 2)),
        ("999栋999单元", UnitRef(999, 999)),
        ("1-1", UnitRef(1, 1)),
    ],
)
def test_parse_unit_accepts(text: str, expected: UnitRef) -> None:
    assert parse_unit(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "", "3栋", "3栋2", "2单元", "0栋1单元", "3栋0单元", "1000栋1单元", "3-0", "0-3",
        "1000-1", "3-2-1", "3--2", "3 - 2", "3栋2单元x", "幸福社区/3栋2单元", "3楼2单元",
        "3栋2单元,4栋1单元", "三-", "十十栋二单元",
    ],
)  # fmt: skip
def test_parse_unit_rejects(text: str) -> None:
    assert parse_unit(text) is None


def test_unit_str() -> None:
    assert str(UnitRef(3, 2)) == "3栋2单元"


@PROPERTY_SETTINGS
@given(
    units,
    numeral_style,
    st.sampled_from(
        [
            "{b}栋{u}单元",
            "{b}号楼{u}单元",
            "{b}幢{u}单元",
            "{b}-{u}",
            "{b}栋 {u}单元",
            "{b}号{u}单元",
        ]
    ),
)
def test_parse_unit_round_trips(unit: UnitRef, style: str, form: str) -> None:
    assert parse_unit(str(unit)) == unit
    text = form.format(b=render_number(unit.building, style), u=render_number(unit.unit, style))
    assert parse_unit(text) == unit


@pytest.mark.parametrize(
    ("text", "expected"),
    [("3栋", 3), ("3号楼", 3), ("3幢", 3), ("3号", 3), ("三栋", 3), ("３栋", 3), ("十二号楼", 12),
     ("999栋", 999), ("1栋", 1), (" 3 栋 ", 3)],
)  # fmt: skip
def test_parse_building_accepts(text: str, expected: int) -> None:
    assert parse_building(text) == expected


@pytest.mark.parametrize(
    "text", ["", "3", "0栋", "1000栋", "3栋2单元", "栋", "3楼", "3-8栋", "3栋,4栋", "三"]
)
def test_parse_building_rejects(text: str) -> None:
    assert parse_building(text) is None


@PROPERTY_SETTINGS
@given(any_text)
def test_unit_and_building_parsers_are_total(text: str) -> None:
    unit = parse_unit(text)
    assert unit is None or (isinstance(unit, UnitRef) and 1 <= unit.building <= 999)
    assert unit is None or 1 <= unit.unit <= 999
    building = parse_building(text)
    assert building is None or (isinstance(building, int) and 1 <= building <= 999)


# ---------------------------------------------------------------------------------------------
# Scopes
# ---------------------------------------------------------------------------------------------

C = "幸福社区"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("全部", ScopeExpr("all", None, None)),
        ("幸福社区", ScopeExpr("community", C, None)),
        ("红旗村", ScopeExpr("community", "红旗村", None)),
        ("阳光小区", ScopeExpr("community", "阳光小区", None)),
        ("东风居委会", ScopeExpr("community", "东风居委会", None)),
        ("东区", ScopeExpr("community", "东区", None)),
        ("3号院小区", ScopeExpr("community", "3号院小区", None)),
        ("幸福社区/全部", ScopeExpr("community", C, None)),
        ("幸福社区/第一网格", ScopeExpr("grid", C, "第一网格")),
        ("幸福社区/3栋", ScopeExpr("buildings", C, None, (3,))),
        ("幸福社区/3号楼", ScopeExpr("buildings", C, None, (3,))),
        ("幸福社区/3-8栋", ScopeExpr("buildings", C, None, (3, 4, 5, 6, 7, 8))),
        ("幸福社区/3栋-5栋", ScopeExpr("buildings", C, None, (3, 4, 5))),
        ("幸福社区/3栋—5栋", ScopeExpr("buildings", C, None, (3, 4, 5))),
        ("幸福社区/3至5栋", ScopeExpr("buildings", C, None, (3, 4, 5))),
        ("幸福社区/3~5栋", ScopeExpr("buildings", C, None, (3, 4, 5))),
        ("幸福社区/3-3栋", ScopeExpr("buildings", C, None, (3,))),
        ("幸福社区/3栋,8栋,12栋", ScopeExpr("buildings", C, None, (3, 8, 12))),
        ("幸福社区/3栋、8栋、12栋", ScopeExpr("buildings", C, None, (3, 8, 12))),
        ("幸福社区/3栋，8栋，12栋", ScopeExpr("buildings", C, None, (3, 8, 12))),
        ("幸福社区/3栋, 8栋", ScopeExpr("buildings", C, None, (3, 8))),
        ("幸福社区/12栋,3栋,3栋", ScopeExpr("buildings", C, None, (3, 12))),
        ("幸福社区/3,8,12栋", ScopeExpr("buildings", C, None, (3, 8, 12))),
        ("幸福社区/1-3栋,8栋", ScopeExpr("buildings", C, None, (1, 2, 3, 8))),
        ("幸福社区/1-500栋", ScopeExpr("buildings", C, None, tuple(range(1, 501)))),
        ("幸福社区/3栋2单元", ScopeExpr("unit", C, None, unit=UnitRef(3, 2))),
        ("幸福社区/3-2", ScopeExpr("unit", C, None, unit=UnitRef(3, 2))),
        ("幸福社区／3栋", ScopeExpr("buildings", C, None, (3,))),
        ("幸福社区 / 3栋", ScopeExpr("buildings", C, None, (3,))),
        ("３栋", ScopeExpr("buildings", None, None, (3,))),
        ("3号", ScopeExpr("buildings", None, None, (3,))),
        ("3栋", ScopeExpr("buildings", None, None, (3,))),
        ("3-8栋", ScopeExpr("buildings", None, None, (3, 4, 5, 6, 7, 8))),
        ("3栋,8栋", ScopeExpr("buildings", None, None, (3, 8))),
        ("三栋、八栋", ScopeExpr("buildings", None, None, (3, 8))),
        ("3栋2单元", ScopeExpr("unit", None, None, unit=UnitRef(3, 2))),
        ("3-2", ScopeExpr("unit", None, None, unit=UnitRef(3, 2))),
        ("第一网格", ScopeExpr("grid", None, "第一网格")),
        ("1号网格", ScopeExpr("grid", None, "1号网格")),
    ],
)
def test_parse_scope_accepts(text: str, expected: ScopeExpr) -> None:
    assert parse_scope(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "", " ", "/", "//", "幸福社区/", "/3栋", "a/b/c", "幸福社区/第一网格/3栋",
        "幸福社区/3栋/2单元",
        "8-3栋", "幸福社区/8-3栋", "1-501栋", "1-300栋,400-700栋", "0栋", "1000栋", "0-3栋",
        "幸福社区3栋", "幸福3栋", "3", "3,8", "3栋,8", "网格", "幸福社区/网格", "幸福社区/幸福村",
        "3栋/第一网格", "第一网格/3栋", "全部/3栋", "幸福 社区", "幸福社区/3楼", "123", "三",
        "一二三四五六七八九十" * 7 + "社区", "幸福社区/全部/3栋", "幸福社区,3栋",
    ],
)  # fmt: skip
def test_parse_scope_rejects(text: str) -> None:
    assert parse_scope(text) is None


@pytest.mark.parametrize(
    ("text", "relative"),
    [("全部", False), ("幸福社区", False), ("幸福社区/3栋", False), ("幸福社区/第一网格", False),
     ("3栋", True), ("3-8栋", True), ("3栋2单元", True), ("第一网格", True)],
)  # fmt: skip
def test_scope_relative(text: str, relative: bool) -> None:
    scope = parse_scope(text)
    assert scope is not None
    assert scope.relative is relative


@pytest.mark.parametrize(
    ("scope", "text"),
    [
        (ScopeExpr("all", None, None), "全部"),
        (ScopeExpr("community", C, None), "幸福社区"),
        (ScopeExpr("grid", C, "第一网格"), "幸福社区/第一网格"),
        (ScopeExpr("buildings", None, None, (3, 4, 5, 8, 10, 11)), "3-5栋,8栋,10-11栋"),
        (ScopeExpr("unit", C, None, unit=UnitRef(3, 2)), "幸福社区/3栋2单元"),
    ],
)
def test_scope_str(scope: ScopeExpr, text: str) -> None:
    assert str(scope) == text


name_chars = st.sampled_from(list("幸福阳光红旗东西南北新华和平建设胜利团结光明长安"))
community_names = st.builds(
    lambda stem, suffix: stem + suffix,
    st.text(name_chars, min_size=1, max_size=8),
    st.sampled_from(["社区", "村", "小区", "居委会", ""]),
)
grid_names = st.builds(
    lambda stem: stem + "网格",
    st.one_of(
        st.integers(1, 99).map(lambda n: f"第{to_cn(n)}"),
        st.integers(1, 99).map(lambda n: f"{n}号"),
        st.text(name_chars, min_size=1, max_size=6),
    ),
)
building_sets = st.lists(st.integers(1, 999), min_size=1, max_size=40, unique=True).map(
    lambda xs: tuple(sorted(xs))
)
scopes = st.one_of(
    st.just(ScopeExpr("all", None, None)),
    community_names.map(lambda c: ScopeExpr("community", c, None)),
    st.builds(lambda c, g: ScopeExpr("grid", c, g), st.none() | community_names, grid_names),
    st.builds(
        lambda c, b: ScopeExpr("buildings", c, None, b), st.none() | community_names, building_sets
    ),
    st.builds(lambda c, u: ScopeExpr("unit", c, None, unit=u), st.none() | community_names, units),
)


@PROPERTY_SETTINGS
@given(scopes)
def test_parse_scope_round_trips(scope: ScopeExpr) -> None:
    assert parse_scope(str(scope)) == scope


@PROPERTY_SETTINGS
@given(any_text)
def test_parse_scope_is_total(text: str) -> None:
    scope = parse_scope(text)
    if scope is None:
        return
    assert isinstance(scope, ScopeExpr)
    assert scope.kind in {"all", "community", "grid", "buildings", "unit"}
    assert 0 < len(scope.buildings) <= 500 if scope.kind == "buildings" else not scope.buildings
    assert list(scope.buildings) == sorted(set(scope.buildings))
    assert (scope.unit is not None) == (scope.kind == "unit")
    assert (scope.grid is not None) == (scope.kind == "grid")
    # Whatever was accepted has a canonical spelling that means the same thing.
    assert parse_scope(str(scope)) == scope


# ---------------------------------------------------------------------------------------------
# Times
# ---------------------------------------------------------------------------------------------

WHEN_CASES = [
    ("18:00", sh(2026, 11, 30, 18, 0)),
    ("18：00", sh(2026, 11, 30, 18, 0)),
    ("21:00", sh(2026, 11, 29, 21, 0)),
    ("20:00", sh(2026, 11, 30, 20, 0)),  # exactly now is not after now
    ("20:01", sh(2026, 11, 29, 20, 1)),
    ("0:00", sh(2026, 11, 30, 0, 0)),
    ("24:00", sh(2026, 11, 30, 0, 0)),
    ("18点", sh(2026, 11, 30, 18, 0)),
    ("18时", sh(2026, 11, 30, 18, 0)),
    ("18点整", sh(2026, 11, 30, 18, 0)),
    ("18点30", sh(2026, 11, 30, 18, 30)),
    ("18点30分", sh(2026, 11, 30, 18, 30)),
    ("18点05", sh(2026, 11, 30, 18, 5)),
    ("18点半", sh(2026, 11, 30, 18, 30)),
    ("十八点半", sh(2026, 11, 30, 18, 30)),
    ("二十一点", sh(2026, 11, 29, 21, 0)),
    ("２２：３０", sh(2026, 11, 29, 22, 30)),
    ("今天18:00", sh(2026, 11, 29, 18, 0)),  # explicit day: not rolled forward
    ("今天 21:00", sh(2026, 11, 29, 21, 0)),
    ("今天24:00", sh(2026, 11, 30, 0, 0)),
    ("今天24点", sh(2026, 11, 30, 0, 0)),
    ("明天18:00", sh(2026, 11, 30, 18, 0)),
    ("明天 8点半", sh(2026, 11, 30, 8, 30)),
    ("明天24:00", sh(2026, 12, 1, 0, 0)),
    ("后天9:00", sh(2026, 12, 1, 9, 0)),
    ("大后天9:00", sh(2026, 12, 2, 9, 0)),
    ("11-30 18:00", sh(2026, 11, 30, 18, 0)),
    ("11/30 18:00", sh(2026, 11, 30, 18, 0)),
    ("11月30日18:00", sh(2026, 11, 30, 18, 0)),
    ("11月30日 18:00", sh(2026, 11, 30, 18, 0)),
    ("11月30号18点", sh(2026, 11, 30, 18, 0)),
    ("12-01 8:00", sh(2026, 12, 1, 8, 0)),
    ("2026-11-30 18:00", sh(2026, 11, 30, 18, 0)),
    ("2026/11/30 18:00", sh(2026, 11, 30, 18, 0)),
    ("2027年1月2日9:00", sh(2027, 1, 2, 9, 0)),
    ("2小时", sh(2026, 11, 29, 22, 0)),
    ("2小时后", sh(2026, 11, 29, 22, 0)),
    ("30分钟", sh(2026, 11, 29, 20, 30)),
    ("30分钟以后", sh(2026, 11, 29, 20, 30)),
    ("2天", sh(2026, 12, 1, 20, 0)),
    ("1天2小时", sh(2026, 11, 30, 22, 0)),
    ("两小时", sh(2026, 11, 29, 22, 0)),
    ("半小时", sh(2026, 11, 29, 20, 30)),
    ("90分", sh(2026, 11, 29, 21, 30)),
]


@pytest.mark.parametrize("now", [NOW, NOW_UTC], ids=["shanghai", "utc"])
@pytest.mark.parametrize(("text", "expected"), WHEN_CASES)
def test_parse_when_accepts(text: str, expected: datetime, now: datetime) -> None:
    result = parse_when(text, now)
    assert result == expected
    assert result is not None and result.tzinfo == SHANGHAI


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("18:00", sh(2026, 11, 30, 18, 0)),
        ("0:30", sh(2026, 12, 1, 0, 30)),  # 00:30 already passed in Shanghai: rolls forward
        ("1:30", sh(2026, 11, 30, 1, 30)),
        ("今天18:00", sh(2026, 11, 30, 18, 0)),
        ("明天9:00", sh(2026, 12, 1, 9, 0)),
        ("2小时", sh(2026, 11, 30, 3, 0)),
    ],
)
def test_parse_when_uses_shanghai_today(text: str, expected: datetime) -> None:
    assert parse_when(text, NOW_UTC_OTHER_DAY) == expected


def test_parse_when_keeps_seconds_of_now_for_durations() -> None:
    now = datetime(2026, 11, 29, 20, 0, 15, tzinfo=SHANGHAI)
    assert parse_when("30分钟", now) == datetime(2026, 11, 29, 20, 30, 15, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    "text",
    [
        "", "明天", "11-30", "2026-11-30", "今天", "25:00", "24:30", "18:61", "18:6", "18点61",
        "18点半半", "13-01 8:00", "2-30 8:00", "11-3018:00", "0-1 8:00", "18", "18:00:00",
        "明天明天18:00", "-2小时", "0小时", "367天", "18:00 明天", "abc", "3栋2单元",
    ],
)  # fmt: skip
def test_parse_when_rejects(text: str) -> None:
    assert parse_when(text, NOW) is None


@PROPERTY_SETTINGS
@given(st.integers(0, 23), st.integers(0, 59), aware_now)
def test_bare_time_is_the_next_such_moment(hour: int, minute: int, now: datetime) -> None:
    result = parse_when(f"{hour}:{minute:02d}", now)
    assert result is not None
    assert result.tzinfo == SHANGHAI
    assert (result.hour, result.minute) == (hour, minute)
    assert now < result <= now + timedelta(days=1)


@PROPERTY_SETTINGS
@given(st.integers(0, 23), st.integers(0, 59), st.sampled_from(["今天", "明天", "后天"]), aware_now)
def test_day_word_with_time(hour: int, minute: int, word: str, now: datetime) -> None:
    offset = {"今天": 0, "明天": 1, "后天": 2}[word]
    day = now.astimezone(SHANGHAI).date() + timedelta(days=offset)
    expected = datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)
    assert parse_when(f"{word}{hour}:{minute:02d}", now) == expected
    assert parse_when(f"{word}{to_cn(hour)}点{to_cn(minute)}分", now) == expected


@PROPERTY_SETTINGS
@given(any_text, aware_now)
def test_parse_when_is_total(text: str, now: datetime) -> None:
    result = parse_when(text, now)
    assert result is None or (isinstance(result, datetime) and result.tzinfo == SHANGHAI)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-30", date(2026, 11, 30)),
        ("2026/11/30", date(2026, 11, 30)),
        ("2026年11月30日", date(2026, 11, 30)),
        ("二〇二六年十一月三十日", date(2026, 11, 30)),
        ("11-30", date(2026, 11, 30)),
        ("11/30", date(2026, 11, 30)),
        ("１１－３０", date(2026, 11, 30)),
        ("11月30日", date(2026, 11, 30)),
        ("11月30号", date(2026, 11, 30)),
        ("11月30", date(2026, 11, 30)),
        ("十一月三十日", date(2026, 11, 30)),
        ("1-5", date(2026, 1, 5)),  # year-less = current Shanghai year, even when past
        ("今天", date(2026, 11, 29)),
        ("明天", date(2026, 11, 30)),
        ("昨天", date(2026, 11, 28)),
        ("后天", date(2026, 12, 1)),
        ("前天", date(2026, 11, 27)),
        ("2028-02-29", date(2028, 2, 29)),
    ],
)
def test_parse_date_accepts(text: str, expected: date) -> None:
    assert parse_date(text, NOW) == expected
    assert parse_date(text, NOW_UTC) == expected


def test_parse_date_today_is_shanghai_today() -> None:
    assert parse_date("今天", NOW_UTC_OTHER_DAY) == date(2026, 11, 30)


def test_parse_date_year_is_shanghai_year() -> None:
    # 2026-12-31 17:00 UTC is already 2027-01-01 in Shanghai.
    now = datetime(2026, 12, 31, 17, 0, tzinfo=UTC)
    assert parse_date("1-1", now) == date(2027, 1, 1)


@pytest.mark.parametrize(
    "text",
    [
        "", "2-30", "13-01", "0-1", "1-0", "2026-02-29", "2026-11/30", "11-30-", "明天18:00",
        "11-30 18:00", "2026", "11", "三十二月一日", "abc", "0000-01-01",
    ],
)  # fmt: skip
def test_parse_date_rejects(text: str) -> None:
    assert parse_date(text, NOW) is None


@PROPERTY_SETTINGS
@given(st.dates(min_value=date(2026, 1, 1), max_value=date(2026, 12, 31)), numeral_style)
def test_parse_date_round_trips(day: date, style: str) -> None:
    m, d = render_number(day.month, style), render_number(day.day, style)
    assert parse_date(day.isoformat(), NOW) == day
    assert parse_date(f"{m}月{d}日", NOW) == day
    assert parse_date(f"{day.month}-{day.day}", NOW) == day
    assert parse_date(f"{day.year}/{day.month}/{day.day}", NOW) == day


@PROPERTY_SETTINGS
@given(any_text, aware_now)
def test_parse_date_is_total(text: str, now: datetime) -> None:
    result = parse_date(text, now)
    assert result is None or isinstance(result, date)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2小时", timedelta(hours=2)),
        ("2个小时", timedelta(hours=2)),
        ("两个钟头", timedelta(hours=2)),
        ("30分钟", timedelta(minutes=30)),
        ("90分", timedelta(minutes=90)),
        ("2天", timedelta(days=2)),
        ("1天2小时", timedelta(days=1, hours=2)),
        ("1天 2小时 30分钟", timedelta(days=1, hours=2, minutes=30)),
        ("两小时", timedelta(hours=2)),
        ("半小时", timedelta(minutes=30)),
        ("半个小时", timedelta(minutes=30)),
        ("1个半小时", timedelta(minutes=90)),
        ("1小时半", timedelta(minutes=90)),
        ("二十四小时", timedelta(hours=24)),
        ("１４天", timedelta(days=14)),
        ("366天", timedelta(days=366)),
        ("0天30分钟", timedelta(minutes=30)),
    ],
)
def test_parse_duration_accepts(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "", "0分钟", "0天", "-2小时", "367天", "366天1分钟", "2", "小时", "2小时1天", "1个半小时半",
        "2.5小时", "18:00", "明天", "9" * 5000 + "天", "2周", "半天",
    ],
)  # fmt: skip
def test_parse_duration_rejects(text: str) -> None:
    assert parse_duration(text) is None


@PROPERTY_SETTINGS
@given(st.integers(0, 365), st.integers(0, 23), st.integers(0, 59), st.booleans(), numeral_style)
def test_parse_duration_round_trips(
    days: int, hours: int, minutes: int, half: bool, style: str
) -> None:
    expected = timedelta(days=days, hours=hours, minutes=minutes + (30 if half else 0))
    parts = []
    if days:
        parts.append(f"{render_number(days, style)}天")
    if hours or half:
        parts.append(f"{render_number(hours, style)}个{'半' if half else ''}小时")
    if minutes:
        parts.append(f"{render_number(minutes, style)}分钟")
    text = "".join(parts)
    # (365天23个半小时31分钟 is one minute over the documented cap of 366 days.)
    if expected <= timedelta(0) or expected > MAX_DURATION:
        assert parse_duration(text) is None
    else:
        assert parse_duration(text) == expected


@PROPERTY_SETTINGS
@given(any_text)
def test_parse_duration_is_total(text: str) -> None:
    result = parse_duration(text)
    assert result is None or timedelta(0) < result <= timedelta(days=366)


# ---------------------------------------------------------------------------------------------
# Check-in reports
# ---------------------------------------------------------------------------------------------


def report(
    households: int,
    *,
    round_no: int | None = None,
    unit: UnitRef | None = None,
    returned: int = 0,
    isolated: int = 0,
    abnormal: int = 0,
    note: str = "",
) -> dict:
    """A report's fields (the Report itself is built inside the test: the plugin
    module must not be imported while the tests are collected)."""
    return {"round_no": round_no, "unit": unit, "households": households,
            "returned": returned, "isolated": isolated, "abnormal": abnormal, "note": note}


U32 = UnitRef(3, 2)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("已排查24户", report(24)),
        ("排查24户", report(24)),
        ("24户", report(24)),
        ("已排查24", report(24)),
        ("已排查 24 户", report(24)),
        ("已排查:24户", report(24)),
        ("已排查0户", report(0)),
        ("#3 3栋2单元 已排查24户 返区0 隔离1 异常0", report(24, round_no=3, unit=U32, isolated=1)),
        ("3栋2单元已排查24户返区0隔离1异常0", report(24, unit=U32, isolated=1)),
        ("＃３ ３－２ 已排查２４户", report(24, round_no=3, unit=U32)),
        ("第3轮 3-2 24户", report(24, round_no=3, unit=U32)),
        ("第三轮 三栋二单元 排查二十四户", report(24, round_no=3, unit=U32)),
        ("异常1 隔离2 返区3 24户 3号楼2单元 #7",
         report(24, round_no=7, unit=U32, returned=3, isolated=2, abnormal=1)),
        ("3栋2单元,已排查24户,返区1", report(24, unit=U32, returned=1)),
        ("3栋2单元，已排查24户，返区1", report(24, unit=U32, returned=1)),
        ("3栋2单元、已排查24户、返区1", report(24, unit=U32, returned=1)),
        ("3栋2单元；已排查24户；返区1。", report(24, unit=U32, returned=1)),
        ("3栋2单元, 已排查24户 ,返区1", report(24, unit=U32, returned=1)),
        ("已排查24户 返区2人 隔离1户 异常:0", report(24, returned=2, isolated=1)),
        ("已排查24户 返区：2 异常无", report(24, returned=2)),
        ("已排查二十四户 返区两人", report(24, returned=2)),
        ("已排查一百零五户", report(105)),
        ("已排查100000户", report(100_000)),
        ("已排查十万户", report(100_000)),
        ("已排查24户 备注 3户无人在家", report(24, note="3户无人在家")),
        ("已排查24户 备注: #2 第3轮 返区5", report(24, note="#2 第3轮 返区5")),
        ("已排查24户备注：家中老人发热，已送医", report(24, note="家中老人发热，已送医")),
        ("已排查24户 备注：  多个   空格\n换行 ", report(24, note="多个 空格 换行")),
        ("已排查24户 备注", report(24)),
        ("已排查24户 备注 备注里还有备注", report(24, note="备注里还有备注")),
        ("已\u200b排查24户", report(24)),
        ("　已排查２４户　", report(24)),
    ],
)  # fmt: skip
def test_parse_report_accepts(text: str, expected: dict) -> None:
    assert parse_report(text) == Report(**expected)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("\u200b", "empty"),
        ("　", "empty"),
        ("#3", "no_households"),
        ("3栋2单元 返区1", "no_households"),
        ("备注 已排查24户", "no_households"),
        ("已排查户", "bad_number"),
        ("已排查abc户", "bad_number"),
        ("已排查24户 返区", "bad_number"),
        ("已排查24户 返区abc", "bad_number"),
        ("已排查24户 隔离十十", "bad_number"),
        ("# 已排查24户", "bad_number"),
        ("#0 已排查24户", "bad_number"),
        ("0栋2单元 已排查24户", "bad_unit"),
        ("3栋0单元 已排查24户", "bad_unit"),
        ("1000栋1单元 已排查24户", "bad_unit"),
        ("3栋 已排查24户", "bad_unit"),
        ("2单元 已排查24户", "bad_unit"),
        ("3号楼 已排查24户", "bad_unit"),
        ("已排查24户 已排查25户", "duplicate_field"),
        ("已排查24户 24户", "duplicate_field"),
        ("3-2 4-1 已排查24户", "duplicate_field"),
        ("#1 第2轮 已排查24户", "duplicate_field"),
        ("已排查24户 返区1 返区2", "duplicate_field"),
        ("已排查24户 异常0 异常0", "duplicate_field"),
        ("已排查100001户", "too_large"),
        ("已排查24户 返区100001", "too_large"),
        ("#100001 已排查24户", "too_large"),
        ("已排查" + "9" * 5000 + "户", "too_large"),
        ("已排查十万零一户", "too_large"),
        ("已排查24户 你好", "unknown_text"),
        ("已排查24户 24", "unknown_text"),
        ("已排查24户 note x", "unknown_text"),
        ("已排查24户 3栋2", "bad_unit"),
        ("已排查24户 返区0-1", "unknown_text"),
        ("已排查24户 备注 " + "长" * 501, "note_too_long"),
        # The first problem from the left wins.
        ("你好 已排查100001户", "unknown_text"),
        ("已排查100001户 你好", "too_large"),
    ],
)
def test_parse_report_rejects(text: str, code: str) -> None:
    result = parse_report(text)
    assert isinstance(result, _report_module().ParseError) and result.code == code


@pytest.mark.parametrize(
    ("text", "code", "part", "guess"),
    [
        ("反区1", "unknown_text", "反区1", "返区1"),
        ("已排查20户 反区1", "unknown_text", "反区1", "返区1"),
        ("已排查20户，隔梨2", "unknown_text", "隔梨2", "隔离2"),
        ("已排查20户 异长0", "unknown_text", "异长0", "异常0"),
        ("以排查20户", "unknown_text", "以排查20户", "已排查20户"),
        ("20户 返区0 👍", "unknown_text", "👍", None),
        ("已排查20户 你好", "unknown_text", "你好", None),
        ("已排查20户 返区abc", "bad_number", "返区abc", None),
        ("3栋 已排查5户", "bad_unit", "3栋", None),
        ("20户 20户", "duplicate_field", "20户", None),
        ("已排查20户 " + "好" * 40, "unknown_text", "好" * 12, None),
    ],
)
def test_a_refusal_names_the_part_and_its_likely_fix(
    text: str, code: str, part: str, guess: str | None
) -> None:
    assert parse_report(text) == ParseError(code, part, guess)


def test_parse_report_note_at_limit_is_accepted() -> None:
    result = parse_report("已排查24户 备注 " + "长" * 500)
    assert isinstance(result, _report_module().Report)
    assert len(result.note) == 500


@st.composite
def rendered_reports(draw: st.DrawFn) -> tuple[Report, str]:
    """A random report and one of its many valid spellings (random field order/separators)."""
    style = draw(numeral_style)

    def num(n: int) -> str:
        return render_number(n, style)

    round_no = draw(st.none() | st.integers(1, MAX_COUNT))
    unit = draw(st.none() | units)
    households = draw(counts)
    optional = {key: draw(st.none() | counts) for key in ("returned", "isolated", "abnormal")}
    note = draw(
        st.none() | st.text(st.sampled_from(list("发热送医备注户栋#12 abc，。")), max_size=30)
    )
    if note is not None:
        note = " ".join(note.split())

    tokens: list[str] = []
    if round_no is not None:
        tokens.append(draw(st.sampled_from(["#{}", "＃{}", "第{}轮"])).format(num(round_no)))
    if unit is not None:
        form = draw(st.sampled_from(["{b}栋{u}单元", "{b}-{u}", "{b}号楼{u}单元", "{b}幢{u}单元"]))
        tokens.append(form.format(b=num(unit.building), u=num(unit.unit)))
    household_form = draw(st.sampled_from(["已排查{}户", "排查{}户", "{}户", "已排查{}"]))
    tokens.append(household_form.format(num(households)))
    for key, word in (("returned", "返区"), ("isolated", "隔离"), ("abnormal", "异常")):
        value = optional[key]
        if value is not None:
            tokens.append(word + draw(st.sampled_from(["", ":", "："])) + num(value))
    tokens = draw(st.permutations(tokens))

    numerals = set("0123456789０１２３４５６７８９〇零一二两三四五六七八九十百千万")
    text = ""
    for index, token in enumerate(tokens):
        separators = [" ", ",", "，", "、", ";", "；", ", "]
        # Two numbers written back to back would read as one (返区5 + 3栋 → 返区53栋).
        touching_numerals = index and text[-1] in numerals and token[0] in numerals
        if not touching_numerals:
            separators.append("")  # fields may also touch, when that is unambiguous
        text += (draw(st.sampled_from(separators)) if index else "") + token
    if note is not None:
        marker = draw(st.sampled_from(["备注 ", "备注:", "备注：", "备注", "备注： "]))
        text += draw(st.sampled_from([" ", "，", ""])) + marker + note

    expected = Report(
        round_no=round_no,
        unit=unit,
        households=households,
        returned=optional["returned"] or 0,
        isolated=optional["isolated"] or 0,
        abnormal=optional["abnormal"] or 0,
        note=note or "",
    )
    return expected, text


@PROPERTY_SETTINGS
@given(rendered_reports())
def test_parse_report_round_trips_any_order(case: tuple[Report, str]) -> None:
    expected, text = case
    assert parse_report(text) == expected


@PROPERTY_SETTINGS
@given(any_text)
def test_parse_report_is_total(text: str) -> None:
    result = parse_report(text)
    mod = _report_module()
    assert isinstance(result, mod.Report | mod.ParseError)
    if isinstance(result, mod.ParseError):
        assert result.code in {
            "empty", "no_households", "bad_number", "bad_unit", "duplicate_field", "too_large",
            "unknown_text", "note_too_long",
        }  # fmt: skip
        return
    for value in (result.households, result.returned, result.isolated, result.abnormal):
        assert isinstance(value, int) and 0 <= value <= MAX_COUNT
    assert result.round_no is None or 1 <= result.round_no <= MAX_COUNT
    assert result.unit is None or isinstance(result.unit, UnitRef)
    assert isinstance(result.note, str) and len(result.note) <= 500


def test_a_pasted_back_confirmation_line_parses() -> None:
    """Leaders copy the bot's confirmation and edit a number: it must still parse."""
    assert parse_report("3栋2单元：已排查24户，返区0，隔离1，异常0") == Report(
        None, UnitRef(3, 2), 24, 0, 1, 0, ""
    )
