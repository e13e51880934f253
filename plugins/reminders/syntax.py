"""Argument grammar of ``/提醒`` (DESIGN.md §3). Pure functions.

``/提醒 <时间> <内容>`` · ``/提醒 每天 <HH:MM> <内容>`` · ``/提醒 列表`` ·
``/提醒 取消 <编号>``. ``None`` means "answer with the usage template";
nothing here raises. The time is read by ``parse_when``; whether it lies in the
past is the caller's to check (it knows "now" and can say so).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from ground.grammar import normalize, parse_when
from plugins._common.syntax import Listing, Numbered

MAX_TEXT_LENGTH = 500
# A time is at most three words: `2026-11-30 18:00`, `明天 18:00`, `2小时 后`.
_MAX_TIME_WORDS = 3
_ZERO_WIDTH_RE = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")
_NUMBER_RE = re.compile(r"#?\s?([0-9]{1,9})")
_DAILY_TIME_RE = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")


@dataclass(frozen=True)
class Once:
    when: datetime  # aware, Asia/Shanghai
    text: str


@dataclass(frozen=True)
class Daily:
    minute: int  # after local midnight
    text: str


ListReminders = Listing  # 列表
Cancel = Numbered  # 取消 <编号>


Parsed = Once | Daily | ListReminders | Cancel


def parse_number(text: str) -> int | None:
    m = _NUMBER_RE.fullmatch(normalize(text))
    if not m:
        return None
    value = int(m.group(1))
    return value if value >= 1 else None


def _words(text: str) -> list[re.Match[str]]:
    return list(re.finditer(r"\S+", text))


def _content(text: str) -> str | None:
    text = text.strip()
    return text if text and len(text) <= MAX_TEXT_LENGTH else None


def split_when(text: str, now: datetime) -> tuple[datetime, str] | None:
    """The moment at the head of ``text`` and the rest, kept as typed.

    The longest reading wins: ``11-30 18:00 开会`` is 11-30 18:00, not "11-30"
    (a date alone is no time anyway). Without a space, the longest leading part
    of the first word that is a time: ``明天18:00开会``.
    """
    words = _words(text)
    for count in range(min(_MAX_TIME_WORDS, len(words) - 1), 0, -1):
        head = text[words[0].start() : words[count - 1].end()]
        when = parse_when(head, now)
        if when is not None:
            rest = _content(text[words[count - 1].end() :])
            return (when, rest) if rest is not None else None
    if not words:
        return None
    first = words[0].group()
    for cut in range(len(first) - 1, 1, -1):
        when = parse_when(first[:cut], now)
        if when is not None:
            rest = _content(first[cut:] + text[words[0].end() :])
            return (when, rest) if rest is not None else None
    return None


def parse_reminder(text: str, now: datetime) -> Parsed | None:
    text = _ZERO_WIDTH_RE.sub("", text).strip()
    norm = normalize(text)
    if norm == "列表":
        return ListReminders()
    if norm.startswith("取消"):
        number = parse_number(norm[2:])
        return Cancel(number) if number is not None else None
    if norm.startswith("每天"):
        rest = text[text.index("天") + 1 :].strip()
        words = _words(rest)
        if not words:
            return None
        m = _DAILY_TIME_RE.fullmatch(normalize(words[0].group()))
        content = _content(rest[words[0].end() :])
        if m is None or content is None:
            return None
        return Daily(int(m.group(1)) * 60 + int(m.group(2)), content)
    found = split_when(text, now)
    if found is None:
        return None
    return Once(*found)
