"""Argument grammar of ``/隔离`` and ``/健康`` (DESIGN.md §3). Pure functions.

``None`` means "answer with the usage template"; nothing here raises. Units,
dates and numbers are read by ``ground.grammar``; these functions only
cut the command line into its positional parts. Business limits (how many
days, how far back a start date may lie) are the service's to check, so the
refusal can say what is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from ground.grammar import (  # noqa: F401  (the token helpers are part of this grammar)
    ScopeExpr,
    cn_to_int,
    normalize,
    parse_date,
    parse_number,
    parse_room,
    parse_scope,
    raw_tokens,
    take_unit,
    tokens,
)
from plugins._common.syntax import Listing, Numbered

MAX_NAME_LENGTH = 20
MAX_SYMPTOMS_LENGTH = 100
# Readable thermometer values; anything outside is a typo, not a reading.
MIN_TEMP_CENTI, MAX_TEMP_CENTI = 3400, 4300
_LARGEST_NUMBER = 10_000_000

_DAYS_RE = re.compile(r"(.+?)天?")
# NFKC turns ℃ into °C.
_TEMP_RE = re.compile(r"([0-9]{2})(?:\.([0-9]{1,2}))?(?:°C|°|度|C|c)?")
_NO_SYMPTOMS = frozenset({"无", "无症状", "正常", "没有", "无异常", "未见异常"})
_NAME_RE = re.compile(r"[^\W\d_]+(?:[·. ][^\W\d_]+)*")


def parse_days(text: str) -> int | None:
    m = _DAYS_RE.fullmatch(text)
    value = cn_to_int(m.group(1)) if m else None
    return value if value is not None and value <= _LARGEST_NUMBER else None


def parse_name(parts: list[str]) -> str | None:
    """An optional name: letters only (a digit there is a phone number or a typo)."""
    name = " ".join(parts)
    if not name:
        return ""
    if len(name) > MAX_NAME_LENGTH or not _NAME_RE.fullmatch(name):
        return None
    return name


@dataclass(frozen=True)
class Register:
    unit: ScopeExpr
    room: str
    start: date
    days: int
    name: str = ""


ListEntries = Listing  # 列表
Release = Numbered  # 解除 <编号>


QuarantineArgs = Register | ListEntries | Release


def parse_register(parts: list[str], now: datetime) -> Register | None:
    """``<单元> <房号> <开始日期> <天数> [姓名]``"""
    head = take_unit(parts)
    if head is None:
        return None
    unit, used = head
    rest = parts[used:]
    if len(rest) < 3:
        return None
    room = parse_room(rest[0])
    start = parse_date(rest[1], now)
    days = parse_days(rest[2])
    name = parse_name(rest[3:])
    if room is None or start is None or days is None or name is None:
        return None
    return Register(unit, room, start, days, name)


def parse_quarantine(text: str, now: datetime) -> QuarantineArgs | None:
    """``登记 …`` · ``列表`` · ``解除 <编号>``"""
    parts = tokens(text)
    if not parts:
        return None
    verb, rest = parts[0], parts[1:]
    if verb == "登记":
        return parse_register(rest, now)
    if verb == "列表":
        return ListEntries() if not rest else None
    if verb == "解除" and len(rest) == 1:
        number = parse_number(rest[0])
        return Release(number) if number is not None else None
    return None


@dataclass(frozen=True)
class HealthArgs:
    number: int
    temp_centi: int  # hundredths of a degree: 37.3 -> 3730
    symptoms: str = ""


def parse_temperature(text: str) -> int | None:
    m = _TEMP_RE.fullmatch(text)
    if not m:
        return None
    whole, frac = int(m.group(1)), (m.group(2) or "0").ljust(2, "0")
    centi = whole * 100 + int(frac)
    return centi if MIN_TEMP_CENTI <= centi <= MAX_TEMP_CENTI else None


def parse_health(text: str) -> HealthArgs | None:
    """``<编号> <体温> [症状]`` — 症状 ``无``/``正常`` count as none."""
    # Symptoms keep the user's own punctuation (NFKC would turn 咳嗽、乏力 into 咳嗽,乏力).
    parts = raw_tokens(text)
    if len(parts) < 2:
        return None
    number = parse_number(parts[0][1])
    temp = parse_temperature(parts[1][1])
    symptoms = " ".join(raw for raw, _ in parts[2:])
    if normalize(symptoms) in _NO_SYMPTOMS:
        symptoms = ""
    if number is None or temp is None or len(symptoms) > MAX_SYMPTOMS_LENGTH:
        return None
    return HealthArgs(number, temp, symptoms)


def fmt_temp(centi: int) -> str:
    """37.30 -> ``37.3``; 37.25 -> ``37.25``."""
    whole, frac = divmod(centi, 100)
    return f"{whole}.{frac // 10}" if frac % 10 == 0 else f"{whole}.{frac:02d}"
