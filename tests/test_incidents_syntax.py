"""Argument grammar of /事件 /处理 /办结: table tests and fuzzing (pure functions)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.strategies import FUZZ, near_misses


@pytest.fixture
def syntax():
    # Imported here: the package's __init__ registers matchers, so NoneBot comes first.
    from plugins.incidents import syntax

    return syntax


@pytest.mark.parametrize(
    ("text", "kind", "unit", "room", "note"),
    [
        ("设备离线 3栋2单元", "设备离线", "3栋2单元", "", ""),
        ("设备离线 3栋2单元 301", "设备离线", "3栋2单元", "301", ""),
        ("标识掉落 3-2 门口标识被风吹落", "标识掉落", "3栋2单元", "", "门口标识被风吹落"),
        ("私自外出 三栋 二单元 502室 疑似外出，已电话联系", "私自外出", "3栋2单元", "502",
         "疑似外出，已电话联系"),
        ("其他 幸福社区/1-1 1-301 楼道堆物  待清理", "其他", "幸福社区/1栋1单元", "1-301",
         "楼道堆物 待清理"),
    ],
)
def test_incident_accepts(syntax, text, kind, unit, room, note) -> None:
    args = syntax.parse_incident(text)
    assert isinstance(args, syntax.Report)
    assert (args.kind, str(args.unit), args.room, args.note) == (kind, unit, room, note)


@pytest.mark.parametrize(
    "text",
    ["", "设备离线", "火灾 3栋2单元", "设备离线 3栋", "设备离线 301 3栋2单元",
     "列表 全部", "设备离线 3栋2单元 301 " + "说" * 201],
)
def test_incident_rejects(syntax, text: str) -> None:
    assert syntax.parse_incident(text) is None


def test_list_ack_close(syntax) -> None:
    assert syntax.parse_incident(" 列表 ") == syntax.ListOpen()
    assert syntax.parse_ack("＃7") == 7
    assert syntax.parse_ack("7 8") is None
    assert syntax.parse_close("7 已更换门磁，设备恢复") == syntax.Close(7, "已更换门磁，设备恢复")
    assert syntax.parse_close("7") is None
    assert syntax.parse_close("七 已处理") is None


@FUZZ
@given(text=st.text(max_size=80))
def test_parsers_never_raise(text: str) -> None:
    from plugins.incidents import syntax

    result = syntax.parse_incident(text)
    if isinstance(result, syntax.Report):
        assert result.kind in syntax.KINDS and result.unit.kind == "unit"
        assert len(result.note) <= syntax.MAX_NOTE_LENGTH
    syntax.parse_ack(text)
    closed = syntax.parse_close(text)
    assert closed is None or (closed.result and closed.number >= 1)


WORDS = [
    "设备离线", "其他", "列表", "3栋2单元", "3-2", "三栋", "2单元", "301", "1-301室", "#3", "＃",
    "说明", "，", " ", "\u200b", "0栋1单元",
]


@FUZZ
@given(text=near_misses(WORDS))
def test_parsers_never_raise_on_near_misses(text: str) -> None:
    from plugins.incidents import syntax

    syntax.parse_incident(text)
    syntax.parse_close(text)
