"""Argument grammar of ``/任务`` and ``/完成`` (DESIGN.md §3). Pure functions.

``None`` means "answer with the usage template"; nothing here raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ground.grammar import ScopeExpr, cn_to_int, parse_number, parse_scope, take_unit, tokens
from plugins._common.syntax import Listing, Numbered

MAX_NAME_LENGTH = 20
DAILY, WEEKLY, MONTHLY = "daily", "weekly", "monthly"
WEEKDAY_NAMES = "一二三四五六日"
_WEEKDAYS = {**{c: i for i, c in enumerate(WEEKDAY_NAMES)}, "天": 6,
             **{str(i + 1): i for i in range(7)}}
_RESERVED = frozenset({"列表", "停止"})
_CLOCK_RE = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")
_SCHEDULE_RE = re.compile(
    r"(?P<daily>每天|每日)"
    r"|每(?:周|星期|礼拜)(?P<wd>[一二三四五六日天1-7])"
    r"|每月(?P<day>[0-9]{1,2}|[一二三四五六七八九十]{1,3})[日号]"
)


@dataclass(frozen=True)
class Schedule:
    kind: str  # daily | weekly | monthly
    arg: int = 0  # weekday 0 (Monday)..6, or day of month 1..31


def describe(kind: str, arg: int) -> str:
    """How people write a schedule: 每天, 每周一, 每月1日."""
    if kind == WEEKLY and 0 <= arg <= 6:
        return f"每周{WEEKDAY_NAMES[arg]}"
    if kind == MONTHLY:
        return f"每月{arg}日"
    return "每天"


def parse_schedule(text: str) -> Schedule | None:
    m = _SCHEDULE_RE.fullmatch(text)
    if not m:
        return None
    if m["daily"]:
        return Schedule(DAILY)
    if m["wd"]:
        return Schedule(WEEKLY, _WEEKDAYS[m["wd"]])
    day = cn_to_int(m["day"])
    return Schedule(MONTHLY, day) if day is not None and 1 <= day <= 31 else None


def parse_clock(text: str) -> int | None:
    """``HH:MM`` -> minutes after midnight."""
    m = _CLOCK_RE.fullmatch(text)
    return int(m.group(1)) * 60 + int(m.group(2)) if m else None


@dataclass(frozen=True)
class DutyArgs:
    name: str
    schedule: Schedule
    minute: int
    scope: ScopeExpr | None = None


ListDuties = Listing  # 列表
StopDuty = Numbered  # 停止 <编号>


def _name(text: str) -> str | None:
    if not text or len(text) > MAX_NAME_LENGTH or text in _RESERVED or text.startswith("#"):
        return None
    return text


def parse_duty(text: str) -> DutyArgs | ListDuties | StopDuty | None:
    """``<名称> <每天|每周一…|每月1日> <HH:MM> [范围]`` · ``列表`` · ``停止 <编号>``."""
    parts = tokens(text)
    if parts == ["列表"]:
        return ListDuties()
    if len(parts) == 2 and parts[0] == "停止":
        number = parse_number(parts[1])
        return StopDuty(number) if number is not None else None
    if len(parts) < 3:
        return None
    name = _name(parts[0])
    schedule = parse_schedule(parts[1])
    minute = parse_clock(parts[2])
    rest = parts[3:]
    if rest and rest[0] == "范围":
        rest = rest[1:]
        if not rest:
            return None
    scope = parse_scope(" ".join(rest)) if rest else None
    if name is None or schedule is None or minute is None or (rest and scope is None):
        return None
    return DutyArgs(name, schedule, minute, scope)


@dataclass(frozen=True)
class DoneArgs:
    number: int
    unit: ScopeExpr | None = None


def parse_done(text: str) -> DoneArgs | None:
    """``<编号> [单元]`` — the unit may be left out by whoever leads exactly the
    units concerned."""
    parts = tokens(text)
    if not parts:
        return None
    number = parse_number(parts[0])
    if number is None:
        return None
    if len(parts) == 1:
        return DoneArgs(number)
    head = take_unit(parts[1:])
    if head is None or head[1] != len(parts) - 1:
        return None
    return DoneArgs(number, head[0])
