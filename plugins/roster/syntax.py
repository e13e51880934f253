"""Argument grammar of the roster commands. Pure functions; None means "show usage"."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ground.grammar import ScopeExpr, normalize, parse_scope

_WS = re.compile(r"\s+")


def tokens(text: str) -> list[str]:
    text = normalize(text)
    return [t for t in _WS.split(text) if t]


@dataclass(frozen=True)
class AppointArgs:
    account: str
    role: str
    scope: str | None
    until: str | None


def parse_appoint(text: str) -> AppointArgs | None:
    """`<账号> <角色> [范围] [至 <时间>]`"""
    t = normalize(text)
    until = None
    m = re.search(r"(?:^|\s)至\s*(.+)$", t)
    if m:
        until = m.group(1).strip()
        t = t[: m.start()].strip()
        if not until:
            return None
    parts = tokens(t)
    if len(parts) not in (2, 3):
        return None
    return AppointArgs(parts[0], parts[1], parts[2] if len(parts) == 3 else None, until)


def parse_two(text: str) -> tuple[str, str] | None:
    parts = tokens(text)
    if len(parts) != 2:
        return None
    return parts[0], parts[1]


def parse_scope_and(text: str) -> tuple[ScopeExpr, str] | None:
    """``<范围> <词>``: a scope and one more word (a group kind, a webhook URL)."""
    parsed = parse_two(text)
    expr = parse_scope(parsed[0]) if parsed else None
    return (expr, parsed[1]) if parsed is not None and expr is not None else None


def parse_code(text: str) -> str | None:
    parts = tokens(text)
    if len(parts) != 1 or not re.fullmatch(r"[A-Za-z0-9]{4,12}", parts[0]):
        return None
    return parts[0].upper()
