"""Pure parsers for the user-facing grammar of DESIGN.md §2–§3.

Nothing here touches the database, the bot or the clock: the time parsers take ``now`` as an
argument. Every public function accepts any ``str`` and never raises; failure is ``None`` (or a
``ParseError`` for check-in reports, whose ``code`` selects the usage template to reply with).

Numbers
    Wherever the grammar has a number ``<n>`` it may be written with ASCII digits, full-width
    digits (folded by :func:`normalize`) or Chinese numerals (see :func:`cn_to_int`).

Units and buildings
    A building is ``<n>栋`` / ``<n>号楼`` / ``<n>幢`` / ``<n>号``; a unit is ``<building><n>单元``
    (one optional space allowed between the parts) or ``<b>-<u>``. Building and unit numbers are
    1..999.

Scopes (范围), checked in this order after splitting on ``/`` (``／`` folds to it):
    * ``全部`` → everything.
    * ``<community>/<target>`` or a bare ``<target>`` (relative to the group's bound scope), where
      a target is a grid name (ends with ``网格``), a unit, or a building list. ``<community>/全部``
      means the whole community.
    * a bare community name.
    A building list is comma-separated items (``,`` ``，`` ``、``), each a building or a range
    ``<a>-<b>`` (also ``~`` ``—`` ``至``, suffix on either or both ends); items may omit the
    building suffix as long as the last item carries one (``3,8,12栋``). Ranges must not be
    reversed; a list may name at most 500 buildings; the result is sorted and de-duplicated.
    A community name is word/CJK text (also ``·`` and parentheses), at most 64 characters, with at
    least one non-digit, not ending with ``网格``, and either ending with 社区/村/小区/居委会 or
    containing no building/unit pattern (so ``幸福社区3栋`` without a slash is rejected rather than
    read as a community). Only the two-level ``community/target`` form is supported.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from types import MappingProxyType
from typing import Literal
from zoneinfo import ZoneInfo

__all__ = [
    "BUILDING_SUFFIX",
    "MAX_BUILDINGS_IN_SCOPE",
    "MAX_COUNT",
    "MAX_DURATION",
    "MAX_NOTE_LENGTH",
    "NUM",
    "SHANGHAI",
    "UNIT_RE",
    "WHITESPACE_RE",
    "ScopeExpr",
    "ScopeKind",
    "UnitRef",
    "cn_to_int",
    "normalize",
    "parse_building",
    "parse_date",
    "parse_duration",
    "parse_number",
    "parse_room",
    "parse_scope",
    "parse_unit",
    "parse_when",
    "raw_tokens",
    "strip_zero_width",
    "take_unit",
    "tokens",
    "unit_from_match",
]

SHANGHAI = ZoneInfo("Asia/Shanghai")

#: Largest number accepted in a check-in report (and for a round number).
MAX_COUNT = 100_000
#: Longest accepted 备注; a report is a status line, not a document, and exports have columns.
MAX_NOTE_LENGTH = 500
#: A scope list or range may name at most this many buildings (guards against ``1-99999栋``).
MAX_BUILDINGS_IN_SCOPE = 500
#: Longest accepted duration.
MAX_DURATION = timedelta(days=366)

_MAX_BUILDING = 999
_MAX_NAME_LENGTH = 64

# ---------------------------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------------------------

# Zero-width characters ride along when text is copied out of WeChat/QQ and would silently split
# keywords such as 已排查; they are removed *before* NFKC so that removal cannot create new
# composable sequences (keeps normalize idempotent).
_ZERO_WIDTH_RE = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")
_CN_DIGIT_CHARS = "〇零一二两三四五六七八九"
_CN_NUMERAL_CHARS = _CN_DIGIT_CHARS + "十百千万"
_NUMERAL_CLASS = f"[0-9{_CN_NUMERAL_CHARS}]"
# Dash-like characters that people type for ranges; `－` and `～` are already folded by NFKC.
_DASHES = "\\-~‐‑‒–—―−〜"
_RANGE_DASH_RE = re.compile(f"(?<={_NUMERAL_CLASS})[{_DASHES}至](?={_NUMERAL_CLASS})")
_WHITESPACE_RE = re.compile(r"\s+")


def _strip_zero_width(text: str) -> str:
    return _ZERO_WIDTH_RE.sub("", text)


def normalize(text: str) -> str:
    """Fold user input into the canonical form every parser here works on.

    Steps, in order (the result is idempotent: ``normalize(normalize(x)) == normalize(x)``):

    1. remove zero-width characters (U+200B–U+200D, U+2060, U+FEFF);
    2. Unicode NFKC: full-width digits, letters, punctuation and the ideographic space become
       ASCII (``３`` → ``3``, ``，`` → ``,``, ``：`` → ``:``, ``；`` → ``;``, ``／`` → ``/``,
       ``＃`` → ``#``, ``－`` → ``-``, ``～`` → ``~``);
    3. ``、`` → ``,`` everywhere: it is only ever a list separator in this grammar;
    4. a dash-like character (``-`` ``~`` ``‐`` ``–`` ``—`` ``―`` ``−`` ``〜``) or ``至`` *directly*
       between two numerals (ASCII digits or Chinese numerals, no whitespace) becomes ``-``:
       ``3—8栋`` → ``3-8栋``, ``3至8栋`` → ``3-8栋``. With whitespace around it nothing changes,
       so ``3-2 至 18:00`` keeps its ``至``;
    5. every run of whitespace becomes one space; leading/trailing whitespace is stripped.
    """
    text = unicodedata.normalize("NFKC", _strip_zero_width(text))
    text = text.replace("、", ",")
    text = _RANGE_DASH_RE.sub("-", text)
    return _WHITESPACE_RE.sub(" ", text).strip()


# ---------------------------------------------------------------------------------------------
# Numbers
# ---------------------------------------------------------------------------------------------

_CN_DIGITS = MappingProxyType(
    {"〇": 0, "零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4,
     "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
)  # fmt: skip
_CN_UNITS = MappingProxyType({"十": 10, "百": 100, "千": 1000})
# Digit-by-digit numerals (二〇二六, 三〇一) never use 两.
_CN_POSITIONAL_CHARS = frozenset("〇零一二三四五六七八九")
_ASCII_DIGITS_RE = re.compile(r"[0-9]+")
_CN_NUMERAL_RE = re.compile(f"[{_CN_NUMERAL_CHARS}]+")
_NUM = f"(?:[0-9]+|[{_CN_NUMERAL_CHARS}]+)"


def _cn_section(s: str) -> int | None:
    """Value of a Chinese numeral below 10000 written with 十/百/千 (no 万), or None.

    Accepted: the standard forms (二十, 十二, 一百零五, 一千零五十), the implicit 一 before 十
    anywhere (一百十 = 110) and the colloquial trailing abbreviation after 百/千 (一百五 = 150,
    三千二 = 3200). 零 must stand for at least one skipped place (一百零十 is rejected).
    """
    if not s:
        return None
    total = 0
    pending: int | None = None  # a digit still waiting for its place unit
    last_unit = 10_000
    zero_gap = False  # a 零 was written since the last unit
    for ch in s:
        unit = _CN_UNITS.get(ch)
        if unit is not None:
            if unit >= last_unit:
                return None
            if pending is None:
                if unit != 10:
                    return None
                pending = 1
            if zero_gap and unit * 10 >= last_unit:
                return None
            total += pending * unit
            pending, last_unit, zero_gap = None, unit, False
            continue
        digit = _CN_DIGITS.get(ch)
        if digit is None:
            return None
        if digit == 0:
            if total == 0 or zero_gap or pending is not None:
                return None
            zero_gap = True
        else:
            if pending is not None:
                return None
            pending = digit
    if pending is None:
        return None if zero_gap else total
    if last_unit in (10_000, 10) or zero_gap:
        return total + pending
    return total + pending * last_unit // 10


def _cn_value(s: str) -> int | None:
    if all(ch in _CN_POSITIONAL_CHARS for ch in s):
        # Digit-by-digit reading, as in years and room numbers.
        try:
            return int("".join(str(_CN_DIGITS[ch]) for ch in s))
        except ValueError:  # more digits than int() accepts
            return None
    if "万" not in s:
        return _cn_section(s)
    high_s, _, low_s = s.partition("万")
    high = _cn_section(high_s)
    if high is None or high == 0 or "万" in low_s:
        return None
    if not low_s:
        return high * 10_000
    if low_s[0] in "零〇":
        low = _cn_section(low_s[1:])
        return None if low is None or low >= 1000 else high * 10_000 + low
    if len(low_s) == 1:
        # 两万五 = 25000: a lone trailing digit counts thousands.
        digit = _CN_DIGITS.get(low_s)
        return None if not digit else high * 10_000 + digit * 1000
    low = _cn_section(low_s)
    # Without 零 the remainder must fill the thousands place; 一万五百 is ambiguous.
    return None if low is None or low < 1000 else high * 10_000 + low


def cn_to_int(s: str) -> int | None:
    """Parse a non-negative integer written in ASCII digits or Chinese numerals.

    Input is NFKC-folded (so full-width digits work) and stripped. Chinese forms: a single digit
    (零 一 … 九, 两), positional digit strings (二〇二六 = 2026, 一〇五 = 105), and place-value
    numerals with 十 百 千 万 (十二, 二十, 一百零五, 两千, 一万零五, 两万五 = 25000). Mixed
    ASCII/Chinese, signs, decimals and malformed numerals (十十, 一百零十) give None.
    """
    s = unicodedata.normalize("NFKC", s).strip()
    if _ASCII_DIGITS_RE.fullmatch(s):
        try:
            return int(s)
        except ValueError:  # beyond the interpreter's int-string conversion limit
            return None
    if _CN_NUMERAL_RE.fullmatch(s):
        return _cn_value(s)
    return None


# ---------------------------------------------------------------------------------------------
# Units and buildings
# ---------------------------------------------------------------------------------------------

_BUILDING_SUFFIX = "(?:号楼|栋|幢|号)"
_UNIT_CORE = (
    rf"(?P<b>{_NUM})\s?{_BUILDING_SUFFIX}\s?(?P<u>{_NUM})\s?单元"
    rf"|(?P<b2>{_NUM})-(?P<u2>{_NUM})"
)
_UNIT_RE = re.compile(_UNIT_CORE)
_BUILDING_RE = re.compile(rf"(?P<b>{_NUM})\s?{_BUILDING_SUFFIX}")


@dataclass(frozen=True, order=True)
class UnitRef:
    """A stairwell unit: building number and unit number (both 1..999 when parsed).

    Ordered by (building, unit) so unit lists sort the way people read them.
    """

    building: int
    unit: int

    def __str__(self) -> str:
        return f"{self.building}栋{self.unit}单元"


def _building_number(raw: str | None) -> int | None:
    if raw is None:
        return None
    value = cn_to_int(raw)
    return value if value is not None and 1 <= value <= _MAX_BUILDING else None


def _unit_from_match(m: re.Match[str]) -> UnitRef | None:
    building = _building_number(m["b"] if m["b"] is not None else m["b2"])
    unit = _building_number(m["u"] if m["u"] is not None else m["u2"])
    if building is None or unit is None:
        return None
    return UnitRef(building, unit)


def parse_unit(text: str) -> UnitRef | None:
    """Parse a string that is exactly one unit.

    ``3栋2单元``, ``3号楼2单元``, ``3幢2单元``, ``3号2单元``, ``3-2``, Chinese numerals
    (``三栋二单元``), full-width digits and one space between parts (``3栋 2单元``) are accepted.
    ``3栋2`` is not: without 单元 it is too easily a typo.
    """
    m = _UNIT_RE.fullmatch(normalize(text))
    return _unit_from_match(m) if m else None


def parse_building(text: str) -> int | None:
    """Parse a string that is exactly one building.

    ``3栋``, ``3号楼``, ``3幢``, ``3号``, ``三栋``, full-width digits; 1..999.
    """
    m = _BUILDING_RE.fullmatch(normalize(text))
    return _building_number(m["b"]) if m else None


# ---------------------------------------------------------------------------------------------
# Scopes
# ---------------------------------------------------------------------------------------------

ScopeKind = Literal["all", "community", "grid", "buildings", "unit"]

_ALL = "全部"
_COMMUNITY_SUFFIXES = ("社区", "村", "小区", "居委会")
_GRID_SUFFIX = "网格"
_NAME_RE = re.compile(r"[\w·()]+")
_HAS_LETTER_RE = re.compile(r"[^\W\d_]")
# Anything that looks like a building or unit reference inside a would-be community name.
_BUILDING_OR_UNIT_INSIDE_RE = re.compile(rf"{_NUM}\s?(?:号楼|栋|幢|单元)|^{_NUM}(?:号|-{_NUM})?$")
_BUILDING_ITEM_RE = re.compile(
    rf"(?P<a>{_NUM})\s?(?P<sa>{_BUILDING_SUFFIX})?"
    rf"(?:\s?[{_DASHES}至]\s?(?P<b>{_NUM})\s?(?P<sb>{_BUILDING_SUFFIX})?)?"
)
_LIST_SPLIT_RE = re.compile(r"\s?,\s?")


@dataclass(frozen=True)
class ScopeExpr:
    """A parsed scope (范围).

    ``community`` is None for ``all`` and for relative scopes; ``grid`` is set only for kind
    ``grid``; ``buildings`` (sorted, unique) only for kind ``buildings``; ``unit`` only for kind
    ``unit``.
    """

    kind: ScopeKind
    community: str | None
    grid: str | None
    buildings: tuple[int, ...] = ()
    unit: UnitRef | None = None

    @property
    def relative(self) -> bool:
        """True when the scope must be resolved inside the group's bound scope."""
        return self.community is None and self.kind != "all"

    def __str__(self) -> str:
        """Canonical text; ``parse_scope(str(s)) == s`` for every scope parse_scope returns."""
        if self.kind == "all":
            return _ALL
        if self.kind == "community":
            return self.community or ""
        prefix = f"{self.community}/" if self.community else ""
        if self.kind == "grid":
            return prefix + (self.grid or "")
        if self.kind == "unit":
            return prefix + str(self.unit)
        return prefix + _format_buildings(self.buildings)


def _format_buildings(buildings: tuple[int, ...]) -> str:
    """Compress consecutive runs into ranges: (3, 4, 5, 8) → ``3-5栋,8栋``."""
    parts: list[str] = []
    i = 0
    while i < len(buildings):
        j = i
        while j + 1 < len(buildings) and buildings[j + 1] == buildings[j] + 1:
            j += 1
        if j == i:
            parts.append(f"{buildings[i]}栋")
        else:
            parts.append(f"{buildings[i]}-{buildings[j]}栋")
        i = j + 1
    return ",".join(parts)


def _parse_building_list(text: str) -> tuple[int, ...] | None:
    items = _LIST_SPLIT_RE.split(text)
    numbers: set[int] = set()
    for index, item in enumerate(items):
        m = _BUILDING_ITEM_RE.fullmatch(item)
        if not m:
            return None
        has_suffix = m["sa"] is not None or m["sb"] is not None
        if index == len(items) - 1 and not has_suffix:
            # Without any suffix `3-8` is a unit and `3` is nothing; only a trailing suffix
            # makes the whole list unambiguously about buildings.
            return None
        first = _building_number(m["a"])
        if first is None:
            return None
        last = first if m["b"] is None else _building_number(m["b"])
        if last is None or last < first or last - first + 1 > MAX_BUILDINGS_IN_SCOPE:
            return None
        numbers.update(range(first, last + 1))
        if len(numbers) > MAX_BUILDINGS_IN_SCOPE:
            return None
    return tuple(sorted(numbers))


def _is_grid_name(name: str) -> bool:
    return (
        len(name) > len(_GRID_SUFFIX)
        and len(name) <= _MAX_NAME_LENGTH
        and name.endswith(_GRID_SUFFIX)
        and _NAME_RE.fullmatch(name) is not None
    )


def _is_community_name(name: str) -> bool:
    if (
        len(name) > _MAX_NAME_LENGTH
        or name == _ALL
        or name.endswith(_GRID_SUFFIX)
        or _NAME_RE.fullmatch(name) is None
        or _HAS_LETTER_RE.search(name) is None
    ):
        return False
    if name.endswith(_COMMUNITY_SUFFIXES):
        return True
    return _BUILDING_OR_UNIT_INSIDE_RE.search(name) is None


def _parse_target(text: str, community: str | None) -> ScopeExpr | None:
    """A grid, unit or building list, relative to ``community`` (None = relative scope)."""
    if _is_grid_name(text):
        return ScopeExpr("grid", community, text)
    unit_match = _UNIT_RE.fullmatch(text)
    if unit_match:
        unit = _unit_from_match(unit_match)
        return ScopeExpr("unit", community, None, unit=unit) if unit else None
    buildings = _parse_building_list(text)
    if buildings:
        return ScopeExpr("buildings", community, None, buildings=buildings)
    return None


def parse_scope(text: str) -> ScopeExpr | None:
    """Parse a scope; see the module docstring for the accepted forms and name rules."""
    s = normalize(text)
    if s == _ALL:
        return ScopeExpr("all", None, None)
    parts = [part.strip() for part in s.split("/")]
    if len(parts) == 2:
        community, target = parts
        if not _is_community_name(community):
            return None
        if target == _ALL:
            return ScopeExpr("community", community, None)
        return _parse_target(target, community)
    if len(parts) != 1 or not s:
        return None
    relative = _parse_target(s, None)
    if relative is not None:
        return relative
    if _is_community_name(s):
        return ScopeExpr("community", s, None)
    return None


# ---------------------------------------------------------------------------------------------
# Dates, times and durations (Asia/Shanghai)
# ---------------------------------------------------------------------------------------------

_DAY_WORDS = MappingProxyType(
    {"前天": -2, "昨天": -1, "昨日": -1, "今天": 0, "今日": 0,
     "明天": 1, "明日": 1, "后天": 2, "大后天": 3}
)  # fmt: skip
_DATE = (
    r"(?P<word>大后天|前天|昨天|昨日|今天|今日|明天|明日|后天)"
    r"|(?P<y1>[0-9]{4})(?P<sep>[-/])(?P<m1>[0-9]{1,2})(?P=sep)(?P<d1>[0-9]{1,2})"
    rf"|(?:(?P<y2>[0-9]{{4}}|[〇零一二三四五六七八九]{{4}})年)?(?P<m2>{_NUM})月(?P<d2>{_NUM})[日号]?"
    r"|(?P<m3>[0-9]{1,2})[-/](?P<d3>[0-9]{1,2})"
)
_TIME = (
    r"(?P<h1>[0-9]{1,2}):(?P<mi1>[0-9]{2})"
    rf"|(?P<h2>{_NUM})[点时](?:(?P<half>半)|整|\s?(?P<mi2>{_NUM})\s?分?)?"
)
_DATE_RE = re.compile(_DATE)
# Parts of the day as people say them before a time: afternoon and evening words move
# 1..11 o'clock past noon (下午6点 = 18:00, 晚上12点 = 24:00), morning words leave it.
_PM_WORDS = ("下午", "傍晚", "晚上", "夜里", "中午")
_AM_WORDS = ("上午", "早上", "早晨", "凌晨")
# Words that are a day and a part of it at once.
_DAY_AND_PART = MappingProxyType({
    "今晚": "今天晚上", "今早": "今天早上", "明早": "明天早上", "明晚": "明天晚上",
})
_DAY_AND_PART_RE = re.compile("|".join(sorted(_DAY_AND_PART, key=len, reverse=True)))
_BEFORE_RE = re.compile(r"\s?(?:之前|以前|前)$")  # "6点前": a deadline is "by" anyway
# A date ending in a numeral needs a space before the time (`11-30 18:00`), otherwise the
# boundary between day and hour would be a guess; after 日/号/天 no space is needed.
_WHEN_RE = re.compile(
    rf"(?:(?P<date>{_DATE})(?:\s|(?<!{_NUMERAL_CLASS})))?"
    rf"(?P<part>{'|'.join(_PM_WORDS + _AM_WORDS)})?\s?(?:{_TIME})"
)
_HOUR_WORD = "(?:小时|钟头)"
_DURATION_RE = re.compile(
    rf"(?:(?P<days>{_NUM})\s?天)?\s?"
    rf"(?:(?P<half_hour>半)\s?个?\s?{_HOUR_WORD}"
    rf"|(?P<hours>{_NUM})\s?(?:个\s?)?(?P<plus_half>半)?\s?{_HOUR_WORD}(?P<trail_half>半)?)?\s?"
    rf"(?:(?P<minutes>{_NUM})\s?分钟?)?"
)
_AFTER_RE = re.compile(r"\s?(?:以后|之后|后)$")
_MAX_DURATION_MINUTES = int(MAX_DURATION.total_seconds()) // 60


def _to_shanghai(now: datetime) -> datetime:
    # A naive `now` is a caller bug; reading it as Shanghai wall time is the least surprising
    # interpretation and keeps these functions total.
    if now.tzinfo is None:
        return now.replace(tzinfo=SHANGHAI)
    return now.astimezone(SHANGHAI)


def _date_from_match(m: re.Match[str], today: date) -> date | None:
    if m["word"] is not None:
        try:
            return today + timedelta(days=_DAY_WORDS[m["word"]])
        except OverflowError:
            return None
    if m["y1"] is not None:
        year, month, day = int(m["y1"]), int(m["m1"]), int(m["d1"])
    elif m["m2"] is not None:
        year_or_none = cn_to_int(m["y2"]) if m["y2"] is not None else today.year
        month_or_none, day_or_none = cn_to_int(m["m2"]), cn_to_int(m["d2"])
        if year_or_none is None or month_or_none is None or day_or_none is None:
            return None
        year, month, day = year_or_none, month_or_none, day_or_none
    else:
        year, month, day = today.year, int(m["m3"]), int(m["d3"])
    try:
        return date(year, month, day)
    except (ValueError, OverflowError):
        return None


def _time_from_match(m: re.Match[str]) -> tuple[int, int] | None:
    """(hour, minute) with hour 0..24; 24 is allowed only as 24:00 (end of the day)."""
    if m["h1"] is not None:
        hour, minute = int(m["h1"]), int(m["mi1"])
    else:
        hour_or_none = cn_to_int(m["h2"])
        if m["half"] is not None:
            minute_or_none: int | None = 30
        elif m["mi2"] is not None:
            minute_or_none = cn_to_int(m["mi2"])
        else:
            minute_or_none = 0
        if hour_or_none is None or minute_or_none is None:
            return None
        hour, minute = hour_or_none, minute_or_none
    if minute > 59 or hour > 24 or (hour == 24 and minute != 0):
        return None
    return hour, minute


def _at(day: date, hour: int, minute: int) -> datetime | None:
    try:
        if hour == 24:
            day, hour = day + timedelta(days=1), 0
        return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)
    except (ValueError, OverflowError):
        return None


def _duration_from_normalized(s: str) -> timedelta | None:
    m = _DURATION_RE.fullmatch(s)
    if not m or not s:
        return None
    if m["plus_half"] is not None and m["trail_half"] is not None:
        return None  # 2个半小时半
    minutes = 0
    for group, scale in (("days", 1440), ("hours", 60), ("minutes", 1)):
        if m[group] is not None:
            value = cn_to_int(m[group])
            if value is None:
                return None
            minutes += value * scale
    if m["half_hour"] is not None or m["plus_half"] is not None or m["trail_half"] is not None:
        minutes += 30
    if not 0 < minutes <= _MAX_DURATION_MINUTES:
        return None
    return timedelta(minutes=minutes)


def parse_duration(text: str) -> timedelta | None:
    """Parse a positive duration of at most 366 days.

    Parts in the order days, hours, minutes, each optional but at least one present:
    ``<n>天``, ``<n>小时`` / ``<n>个小时`` / ``<n>个钟头``, ``半小时`` / ``半个小时``,
    ``<n>个半小时`` / ``<n>小时半`` (+30 min), ``<n>分`` / ``<n>分钟``. Examples: ``2小时``,
    ``30分钟``, ``90分``, ``2天``, ``1天2小时``, ``两小时``, ``半小时``.
    """
    return _duration_from_normalized(normalize(text))


def parse_date(text: str, now: datetime) -> date | None:
    """Parse a calendar date, relative to ``now`` seen in Asia/Shanghai.

    ``2026-11-30``, ``2026/11/30``, ``2026年11月30日``, ``11-30``, ``11/30``, ``11月30日``
    (also ``号``, or nothing, after the day), ``前天`` ``昨天`` ``今天`` ``明天`` ``后天``
    ``大后天`` (and 昨日/今日/明日). A year-less date is in the current Shanghai year, even if
    it has passed. Impossible dates (``2-30``, ``13-01``) give None.
    """
    m = _DATE_RE.fullmatch(normalize(text))
    if not m:
        return None
    return _date_from_match(m, _to_shanghai(now).date())


def parse_when(text: str, now: datetime) -> datetime | None:
    """Parse a moment; the result is an aware Asia/Shanghai datetime.

    * ``<time>`` alone (``18:00``, ``18点``, ``18点30``, ``18点30分``, ``18点半``, ``18时``,
      ``十八点``): today, or tomorrow when that moment is not after ``now``.
    * ``<date> <time>`` with any date form of :func:`parse_date` (``今天18:00``, ``明天18:00``,
      ``11-30 18:00``, ``11月30日18:00``, ``2026/11/30 18:00``): exactly that moment, never
      rolled forward even when it is in the past (the caller decides what a past time means).
      A date ending in a digit needs a space before the time.
    * ``24:00`` / ``24点`` means 00:00 of the next day (``今天24:00`` = tomorrow 00:00).
    * a duration of :func:`parse_duration`, optionally followed by 后/以后/之后: ``now`` plus it.
    * a part of the day before the time: ``下午6点`` (18:00), ``晚上8点``, ``上午9点``, with or
      without a date (``明天下午3点``); ``今晚8点``, ``明早9点``, ``明晚``, ``今早`` carry the
      day too. ``6点前`` is ``6点``.

    A date alone (``明天``, ``11-30``) is ambiguous and gives None; so do impossible times
    (``25:00``, ``18:61``, ``13-01 8:00``).
    """
    s = normalize(text)
    if not s:
        return None
    now_sh = _to_shanghai(now)
    spoken = _BEFORE_RE.sub("", _DAY_AND_PART_RE.sub(lambda d: _DAY_AND_PART[d.group(0)], s))
    m = _WHEN_RE.fullmatch(spoken)
    if m:
        hour_minute = _time_from_match(m)
        if hour_minute is None:
            return None
        if (m["part"] in _PM_WORDS and 1 <= hour_minute[0] <= 11) or (
            m["part"] in ("晚上", "夜里") and hour_minute == (12, 0)
        ):
            hour_minute = (hour_minute[0] + 12, hour_minute[1])
        if m["date"] is not None:
            day = _date_from_match(m, now_sh.date())
            return None if day is None else _at(day, *hour_minute)
        result = _at(now_sh.date(), *hour_minute)
        if result is not None and result <= now_sh:
            result = _at(now_sh.date() + timedelta(days=1), *hour_minute)
        return result
    duration = _duration_from_normalized(_AFTER_RE.sub("", s))
    if duration is None:
        return None
    try:
        return now_sh + duration
    except OverflowError:
        return None


# --- argument tokens (shared by the commands that take a 编号, a unit, a room) -------------------

_LARGEST_NUMBER = 10_000_000
_NUMBER_RE = re.compile(r"#?\s?([0-9]{1,9})")
# A room: digits and letters, optionally one dash (1-301), optionally 室/号; at least one digit.
_ROOM_RE = re.compile(r"(?=[^室号]*[0-9])([0-9A-Za-z]{1,6}(?:-[0-9A-Za-z]{1,6})?)[室号]?")
_ZERO_WIDTH_RE = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")


def tokens(text: str) -> list[str]:
    return normalize(text).split()


def raw_tokens(text: str) -> list[tuple[str, str]]:
    """(as typed, normalized) per whitespace-separated token: parse the normalized
    form, keep free text (a note, symptoms) with the user's own punctuation."""
    pairs = [(raw, normalize(raw)) for raw in _ZERO_WIDTH_RE.sub("", text).split()]
    return [(raw, norm) for raw, norm in pairs if norm]


def parse_number(text: str) -> int | None:
    """A 编号: ``3``, ``#3`` (also ``＃3``)."""
    m = _NUMBER_RE.fullmatch(normalize(text))
    if not m:
        return None
    value = int(m.group(1))
    return value if 1 <= value <= _LARGEST_NUMBER else None


def take_unit(parts: list[str]) -> tuple[ScopeExpr, int] | None:
    """A unit at the head of ``parts`` and how many tokens it used.

    ``3栋2单元``, ``3-2``, ``幸福社区/3栋2单元``, or the unit split by one space
    (``3栋 2单元``, which the unit grammar allows).
    """
    for used in (1, 2):
        if len(parts) < used:
            return None
        expr = parse_scope(" ".join(parts[:used]))
        if expr is not None and expr.kind == "unit":
            return expr, used
    return None


def parse_room(text: str) -> str | None:
    m = _ROOM_RE.fullmatch(text)
    return m.group(1) if m else None


# --- pieces of the grammar other grammars build on (check-in reports) -------------------------

NUM = _NUM  # a number: ASCII digits or Chinese numerals
BUILDING_SUFFIX = _BUILDING_SUFFIX
UNIT_RE = _UNIT_RE
WHITESPACE_RE = _WHITESPACE_RE
strip_zero_width = _strip_zero_width
unit_from_match = _unit_from_match


def suggestion(typed: str, names: Iterable[str]) -> str | None:
    """The name closest to a mistyped word (difflib's ratio, at least
    0.5), comparing as many leading characters as the name has: "大卡已排查18户" and
    "大卡" both suggest "打卡";
    "反区1" suggests "返区"."""
    best, best_score = None, 0.5
    for name in names:
        score = difflib.SequenceMatcher(None, typed[: len(name)], name).ratio()
        if score > best_score or (score == best_score and best is None):
            best, best_score = name, score
    return best
