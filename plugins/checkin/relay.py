"""接龙 lists: the numbered check-in lists leaders paste from WeChat and QQ.

    #接龙 3栋排查情况            (or /接龙 #2)
    1. 3栋1单元 已排查12户
    2、3栋2单元 已排查10户 空置2 👍
    ③ 4-1 30户

Each numbered line is a ``/打卡`` for its unit (``plugins.checkin.report``). Lines
that are not numbered (a title, a blank line, "以上") are not items. Numbering may
be ``1.`` ``1、`` ``1)`` ``(1)`` ``①`` in half- or full-width forms; trailing emoji
and WeChat's ``[强]``-style stickers are dropped. Pure functions.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from ground.grammar import strip_zero_width
from plugins.checkin.report import ParseError, Report, parse_report

HEADS = ("#接龙", "＃接龙")
MAX_ITEMS = 200
_CIRCLED = "①②③④⑤⑥⑦⑧⑨⑩⑪⑫⑬⑭⑮⑯⑰⑱⑲⑳"
_ITEM_RE = re.compile(
    r"^\s*(?:(?P<n>[0-9０-９]{1,3})\s*[.．、,，)）:：]"
    r"|[(（]\s*(?P<p>[0-9０-９]{1,3})\s*[)）]"
    rf"|(?P<c>[{_CIRCLED}]))\s*(?P<body>.*)$"
)
_STICKER_RE = re.compile(r"\[[^\[\]\s]{1,4}\]\s*$")  # WeChat/QQ text stickers: [强] [OK]


@dataclass(frozen=True)
class Item:
    number: int  # as numbered in the list
    body: str  # the line without its number and trailing emoji
    report: Report | ParseError


def _number(m: re.Match[str]) -> int:
    if m["c"]:
        return _CIRCLED.index(m["c"]) + 1
    return int(unicodedata.normalize("NFKC", m["n"] or m["p"]))


def _is_decoration(ch: str) -> bool:
    return unicodedata.category(ch) in ("So", "Sk", "Cf", "Mn", "Zs") or ch in "\ufe0f\u200d"


def clean(body: str) -> str:
    """A line without trailing emoji (👍🏻, ✅, ❤️) and stickers ([强])."""
    text = strip_zero_width(body).rstrip()
    while True:
        stripped = _STICKER_RE.sub("", text).rstrip()
        while stripped and _is_decoration(stripped[-1]):
            stripped = stripped[:-1].rstrip()
        if stripped == text:
            return text
        text = stripped


def items(lines: list[str]) -> list[Item]:
    """The numbered lines, parsed as check-ins."""
    found = []
    for line in lines:
        m = _ITEM_RE.match(line)
        if m is None:
            continue
        body = clean(m["body"])
        found.append(Item(_number(m), body, parse_report(body)))
    return found


def is_relay(text: str) -> bool:
    """``#接龙`` typed without a slash: taken only with at least one numbered line."""
    return bool(items(text.splitlines()))
