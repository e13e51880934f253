"""Argument grammar of ``/事件``, ``/处理`` and ``/办结`` (DESIGN.md §3). Pure functions.

``None`` means "answer with the usage template"; nothing here raises.
"""

from __future__ import annotations

from dataclasses import dataclass

from ground.grammar import ScopeExpr, parse_number, parse_room, raw_tokens, take_unit
from plugins._common.syntax import Listing

KINDS = ("设备离线", "标识掉落", "私自外出", "其他")
MAX_NOTE_LENGTH = 200
MAX_RESULT_LENGTH = 200


@dataclass(frozen=True)
class Report:
    kind: str
    unit: ScopeExpr
    room: str = ""
    note: str = ""


ListOpen = Listing  # 列表


def parse_incident(text: str) -> Report | ListOpen | None:
    """``<设备离线|标识掉落|私自外出|其他> <单元> [房号] [说明]`` or ``列表``.

    The note keeps the user's own punctuation; everything else is read normalized.
    """
    pairs = raw_tokens(text)
    parts = [norm for _, norm in pairs]
    if parts == ["列表"]:
        return ListOpen()
    if not parts or parts[0] not in KINDS:
        return None
    head = take_unit(parts[1:])
    if head is None:
        return None
    unit, used = head
    rest = 1 + used
    room = parse_room(parts[rest]) if rest < len(parts) else None
    if room is not None:
        rest += 1
    note = " ".join(raw for raw, _ in pairs[rest:])
    if len(note) > MAX_NOTE_LENGTH:
        return None
    return Report(parts[0], unit, room or "", note)


def parse_ack(text: str) -> int | None:
    """``<编号>``"""
    return parse_number(text)


@dataclass(frozen=True)
class Close:
    number: int
    result: str


def parse_close(text: str) -> Close | None:
    """``<编号> <结果>`` — the result is free text (as typed), kept on one line."""
    pairs = raw_tokens(text)
    if len(pairs) < 2:
        return None
    number = parse_number(pairs[0][1])
    result = " ".join(raw for raw, _ in pairs[1:])
    if number is None or len(result) > MAX_RESULT_LENGTH:
        return None
    return Close(number, result)
