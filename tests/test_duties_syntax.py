"""Argument grammar of /任务 and /完成: table tests and fuzzing (pure functions)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.strategies import FUZZ, near_misses


@pytest.fixture
def syntax():
    # Imported here: the package's __init__ registers matchers, so NoneBot comes first.
    from plugins.duties import syntax

    return syntax


@pytest.mark.parametrize(
    ("text", "name", "kind", "arg", "minute", "scope"),
    [
        ("楼道消杀 每天 09:00", "楼道消杀", "daily", 0, 540, None),
        ("楼道消杀 每日 9:05 幸福社区", "楼道消杀", "daily", 0, 545, "幸福社区"),
        ("应急演练 每周一 15:00 范围 幸福社区/第一网格", "应急演练", "weekly", 0, 900,
         "幸福社区/第一网格"),
        ("应急演练 每周日 15:00", "应急演练", "weekly", 6, 900, None),
        ("应急演练 每星期天 15:00", "应急演练", "weekly", 6, 900, None),
        ("应急演练 每周3 15:00", "应急演练", "weekly", 2, 900, None),
        ("全面消杀 每月1日 08:30 3-8栋", "全面消杀", "monthly", 1, 510, "3-8栋"),
        ("全面消杀 每月三十一号 08:30", "全面消杀", "monthly", 31, 510, None),
        ("全面消杀 每月15日 ０８：３０", "全面消杀", "monthly", 15, 510, None),
    ],
)
def test_duty_accepts(syntax, text, name, kind, arg, minute, scope) -> None:
    args = syntax.parse_duty(text)
    assert isinstance(args, syntax.DutyArgs)
    assert (args.name, args.schedule.kind, args.schedule.arg, args.minute) == (
        name, kind, arg, minute
    )
    assert (str(args.scope) if args.scope else None) == scope


@pytest.mark.parametrize(
    "text",
    ["", "消杀", "消杀 每天", "消杀 每天 24:00", "消杀 每天 9点", "消杀 每周八 09:00",
     "消杀 每月0日 09:00", "消杀 每月32日 09:00", "消杀 每月 09:00", "消杀 每天 09:00 范围",
     "消杀 每天 09:00 火星/基地", "列表 每天 09:00", "#3 每天 09:00", "停止", "停止 一",
     "列表 全部", "x" * 21 + " 每天 09:00"],
)
def test_duty_rejects(syntax, text: str) -> None:
    assert syntax.parse_duty(text) is None


def test_list_stop_done(syntax) -> None:
    assert syntax.parse_duty("列表") == syntax.ListDuties()
    assert syntax.parse_duty("停止 #4") == syntax.StopDuty(4)
    assert syntax.parse_done("4") == syntax.DoneArgs(4)
    done = syntax.parse_done("#4 3栋 2单元")
    assert done is not None and done.number == 4 and str(done.unit) == "3栋2单元"
    assert syntax.parse_done("4 3栋") is None
    assert syntax.parse_done("4 3栋2单元 多余") is None
    assert syntax.parse_done("") is None
    assert [syntax.describe(k, a) for k, a in (("daily", 0), ("weekly", 3), ("monthly", 31))] == [
        "每天", "每周四", "每月31日"
    ]


@FUZZ
@given(text=st.text(max_size=80))
def test_parsers_never_raise(text: str) -> None:
    from plugins.duties import syntax

    result = syntax.parse_duty(text)
    if isinstance(result, syntax.DutyArgs):
        assert 0 <= result.minute < 24 * 60 and result.name
    done = syntax.parse_done(text)
    assert done is None or done.number >= 1


WORDS = [
    "消杀", "列表", "停止", "每天", "每周一", "每周八", "每月1日", "每月31日", "09:00", "25:00",
    "范围", "幸福社区", "3栋", "2单元", "3-8栋", "#2", "2", " ", "，",
]


@FUZZ
@given(text=near_misses(WORDS))
def test_parsers_never_raise_on_near_misses(text: str) -> None:
    from plugins.duties import syntax

    syntax.parse_duty(text)
    syntax.parse_done(text)
