"""Argument grammar of /隔离 and /健康: table tests and fuzzing (pure functions)."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ground.timeutil import SHANGHAI
from tests.strategies import FUZZ, near_misses

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=SHANGHAI)


@pytest.fixture
def syntax():
    # Imported here: the package's __init__ registers matchers, so NoneBot comes first.
    from plugins.quarantine import syntax

    return syntax


@pytest.mark.parametrize(
    ("text", "unit", "room", "start", "days", "name"),
    [
        ("登记 3栋2单元 301 11-30 14 张三", "3栋2单元", "301", date(2026, 11, 30), 14, "张三"),
        ("登记 3-2 301室 今天 14天", "3栋2单元", "301", date(2026, 11, 30), 14, ""),
        ("登记 三栋二单元 1-301 明天 十四", "3栋2单元", "1-301", date(2026, 12, 1), 14, ""),
        ("登记 3栋 2单元 ３０１ 2026-11-29 7 欧阳娜娜", "3栋2单元", "301", date(2026, 11, 29),
         7, "欧阳娜娜"),
        ("登记 幸福社区/3栋2单元 B12 11月29日 0", "幸福社区/3栋2单元", "B12",
         date(2026, 11, 29), 0, ""),
        ("登记 3栋2单元 301 11-30 400 Zhang San", "3栋2单元", "301", date(2026, 11, 30), 400,
         "Zhang San"),
    ],
)
def test_register_accepts(syntax, text, unit, room, start, days, name) -> None:
    args = syntax.parse_quarantine(text, NOW)
    assert isinstance(args, syntax.Register)
    assert (str(args.unit), args.room, args.start, args.days, args.name) == (
        unit, room, start, days, name
    )


@pytest.mark.parametrize(
    "text",
    [
        "", "登记", "登记 3栋2单元", "登记 3栋2单元 301 11-30",
        "登记 3栋2单元 301 2-30 14",  # impossible date
        "登记 3栋2单元 301 11-30 -3",
        "登记 3栋2单元 301 11-30 14天半",
        "登记 3栋 301 11-30 14",  # a building
        "登记 3栋2 301 11-30 14",
        "登记 3栋2单元 三零一室 11-30 14",
        "登记 3栋2单元 301 11-30 14 张三13812345678",
        "登记 3栋2单元 301 11-30 14 " + "张" * 21,
        "列表 全部", "解除", "解除 三", "解除 0", "解除 1 2", "删除 1",
    ],
)
def test_quarantine_rejects(syntax, text: str) -> None:
    assert syntax.parse_quarantine(text, NOW) is None


def test_list_and_release(syntax) -> None:
    assert syntax.parse_quarantine("列表", NOW) == syntax.ListEntries()
    assert syntax.parse_quarantine(" 解除  ＃12 ", NOW) == syntax.Release(12)


@pytest.mark.parametrize(
    ("text", "number", "centi", "symptoms"),
    [
        ("3 36.5", 3, 3650, ""),
        ("#3 37.3℃", 3, 3730, ""),
        ("3 37.25度 无", 3, 3725, ""),
        ("3 38 咳嗽、乏力", 3, 3800, "咳嗽、乏力"),
        ("３ ３７.２ 正常", 3, 3720, ""),
        ("3 37.6 咳嗽  发热\u200b", 3, 3760, "咳嗽 发热"),
    ],
)
def test_health_accepts(syntax, text, number, centi, symptoms) -> None:
    assert syntax.parse_health(text) == syntax.HealthArgs(number, centi, symptoms)


@pytest.mark.parametrize(
    "text", ["", "3", "3 373", "3 33.9", "3 43.1", "3 发烧", "三 37", "3 37.123",
             "3 37.5 " + "咳" * 101],
)
def test_health_rejects(syntax, text: str) -> None:
    assert syntax.parse_health(text) is None


def test_fmt_temp(syntax) -> None:
    assert [syntax.fmt_temp(c) for c in (3730, 3725, 3600, 3605)] == [
        "37.3", "37.25", "36.0", "36.05"
    ]


@FUZZ
@given(text=st.text(max_size=80))
def test_parsers_never_raise(text: str) -> None:
    from plugins.quarantine import syntax

    result = syntax.parse_quarantine(text, NOW)
    assert result is None or isinstance(result, syntax.Register | syntax.ListEntries
                                        | syntax.Release)
    health = syntax.parse_health(text)
    assert health is None or (
        syntax.MIN_TEMP_CENTI <= health.temp_centi <= syntax.MAX_TEMP_CENTI
        and len(health.symptoms) <= syntax.MAX_SYMPTOMS_LENGTH
    )


WORDS = [
    "登记", "列表", "解除", "3栋2单元", "3-2", "三栋", "2单元", "301", "301室", "今天", "2-30",
    "11-30", "14", "0", "400", "十四天", "张三", "#3", "＃", "37.3", "℃", "咳嗽", " ", "、",
]


@FUZZ
@given(text=near_misses(WORDS, max_words=8))
def test_parsers_never_raise_on_near_misses(text: str) -> None:
    from plugins.quarantine import syntax

    result = syntax.parse_quarantine(text, NOW)
    if isinstance(result, syntax.Register):
        assert result.unit.kind == "unit" and result.room and result.days >= 0
    syntax.parse_health(text)
