"""Argument grammar of /排查 and the [#N] commands: table tests (pure functions)."""

from __future__ import annotations

import pytest


@pytest.fixture
def syntax():
    # Imported here: the package's __init__ registers matchers, so NoneBot comes first.
    from plugins.checkin import syntax

    return syntax


@pytest.mark.parametrize(
    ("text", "title", "when", "scope"),
    [
        ("来自A地区人员排查 截止 明天18:00", "来自A地区人员排查", "明天18:00", None),
        ("返乡排查 截止 11-30 18:00 范围 幸福社区", "返乡排查", "11-30 18:00", "幸福社区"),
        ("返乡排查 截止 2小时 范围 幸福社区/3-8栋", "返乡排查", "2小时", "幸福社区/3-8栋"),
        ("返乡排查 范围 幸福社区/第一网格 截止 18:00", "返乡排查", "18:00", "幸福社区/第一网格"),
        ("返乡排查截止２天", "返乡排查", "2天", None),
        ("扩大范围排查 截止 2天", "扩大范围排查", "2天", None),
        ("A 地区 排查 截止 2026-11-30 18:00 范围 全部", "A 地区 排查", "2026-11-30 18:00", "全部"),
    ],
)
def test_open_accepts(syntax, text: str, title: str, when: str, scope: str | None) -> None:
    args = syntax.parse_open(text)
    assert args is not None
    assert (args.title, args.when) == (title, when)
    assert (str(args.scope) if args.scope else None) == scope


@pytest.mark.parametrize(
    "text",
    [
        "",
        "来自A地区人员排查",  # no deadline
        "截止 18:00",  # no title
        "排查 截止",  # no time
        "排查 截止 18:00 范围",  # empty scope
        "排查 截止 18:00 范围 ???",  # unreadable scope
        "排查 范围 幸福社区 截止 18:00 范围 全部",  # two scopes
        "x" * 41 + " 截止 18:00",  # title too long
    ],
)
def test_open_rejects(syntax, text: str) -> None:
    assert syntax.parse_open(text) is None


@pytest.mark.parametrize(
    ("text", "title", "opens", "closes", "scope"),
    [
        ("每日健康排查 10:00-18:00", "每日健康排查", 600, 1080, None),
        ("每日排查 10:00—18:00 范围 幸福社区/第一网格", "每日排查", 600, 1080, "幸福社区/第一网格"),
        ("每日排查 8点-17点半", "每日排查", 480, 1050, None),
        ("每日排查 八点至十八点", "每日排查", 480, 1080, None),
        ("每日排查 ０８:３０~２４:００", "每日排查", 510, 1440, None),
    ],
)
def test_daily_accepts(syntax, text: str, title: str, opens: int, closes: int, scope) -> None:
    args = syntax.parse_daily(text)
    assert isinstance(args, syntax.DailyArgs)
    assert (args.title, args.open_minute, args.close_minute) == (title, opens, closes)
    assert (str(args.scope) if args.scope else None) == scope


@pytest.mark.parametrize(
    "text",
    ["", "10:00-18:00", "排查 18:00-10:00", "排查 10:00-10:00", "排查 25:00-26:00",
     "排查 10:00", "排查 10:00-18:00 范围 ???", "排查 10:61-18:00"],
)
def test_daily_rejects(syntax, text: str) -> None:
    assert syntax.parse_daily(text) is None


def test_daily_stop(syntax) -> None:
    assert syntax.parse_daily("停止 3") == syntax.StopDaily(3)
    assert syntax.parse_daily("停止 #三") == syntax.StopDaily(3)
    assert syntax.parse_daily("停止 x") is None


@pytest.mark.parametrize(
    ("text", "number", "daily"),
    [
        ("", None, False),
        ("#3", 3, False),
        ("＃３", 3, False),
        ("# 3", 3, False),
        ("第三轮", 3, False),
        ("12", 12, False),
        ("#3 日报", 3, True),
        ("日报", None, True),
    ],
)
def test_round_ref_accepts(syntax, text: str, number: int | None, daily: bool) -> None:
    assert syntax.parse_round_ref(text, allow_daily_report=True) == syntax.RoundRef(number, daily)


@pytest.mark.parametrize("text", ["#0", "#", "abc", "#3 #4", "#-1", "第轮", "3栋", "#3 日报 x"])
def test_round_ref_rejects(syntax, text: str) -> None:
    assert syntax.parse_round_ref(text, allow_daily_report=True) is None


def test_daily_report_word_only_where_allowed(syntax) -> None:
    assert syntax.parse_round_ref("日报") is None
    assert syntax.parse_round_ref("#2") == syntax.RoundRef(2)


def test_subcommand_may_touch_its_argument(syntax) -> None:
    assert syntax.split_subcommand("发起排查 截止 18:00") == ("发起", "排查 截止 18:00")
    assert syntax.split_subcommand(" 每天 x") == ("每天", "x")
    assert syntax.split_subcommand("列表") == ("", "列表")
