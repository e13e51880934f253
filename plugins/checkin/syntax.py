"""Argument grammar of the check-in commands (DESIGN.md §3). Pure functions.

``None`` means "answer with the usage template". The report grammar of
``/打卡`` itself lives in ``plugins.checkin.report``; times and
scopes are parsed there too, these functions only cut the command line into
its keyword parts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ground.grammar import ScopeExpr, cn_to_int, normalize, parse_scope

MAX_TITLE_LENGTH = 40
_NUM = r"(?:[0-9]+|[〇零一二两三四五六七八九十百千万]+)"
_ROUND_REF = re.compile(rf"(?:#\s?(?P<a>{_NUM})|第\s?(?P<b>{_NUM})\s?轮|(?P<c>[0-9]+))")
_SCOPE_KEY = re.compile(r"(?:^|\s)范围\s*")
_DEADLINE_KEY = re.compile(r"\s*截止\s*")
# A clock time: 10:00, 10点, 10点半, 10点30(分); Chinese numerals allowed in the 点 forms.
_CLOCK = rf"(?:[0-9]{{1,2}}:[0-9]{{2}}|{_NUM}点(?:半|{_NUM}分?)?)"
_CLOCK_RE = re.compile(
    rf"(?P<h>[0-9]{{1,2}}):(?P<m>[0-9]{{2}})|(?P<h2>{_NUM})点(?:(?P<half>半)|(?P<m2>{_NUM})分?)?"
)
_WINDOW_RE = re.compile(rf"(?P<a>{_CLOCK})\s?[-~至到]\s?(?P<b>{_CLOCK})")
_STOP_RE = re.compile(rf"停止\s*(?:#\s?)?(?P<n>{_NUM})")


@dataclass(frozen=True)
class RoundRef:
    """An optional ``#N`` argument: ``number`` None means "the one that fits"."""

    number: int | None
    daily_report: bool = False


@dataclass(frozen=True)
class OpenArgs:
    title: str
    when: str  # parsed by parse_when against the runtime clock
    scope: ScopeExpr | None


@dataclass(frozen=True)
class DailyArgs:
    title: str
    open_minute: int
    close_minute: int
    scope: ScopeExpr | None


@dataclass(frozen=True)
class StopDaily:
    number: int


def _number(raw: str | None) -> int | None:
    if raw is None:
        return None
    value = cn_to_int(raw)
    return value if value is not None and 1 <= value <= 10_000_000 else None


def parse_round_ref(text: str, allow_daily_report: bool = False) -> RoundRef | None:
    """``[#N]`` (also ``＃N``, ``第N轮``, a bare number), optionally followed by ``日报``."""
    parts = normalize(text).split()
    daily = False
    if allow_daily_report and parts and parts[-1] == "日报":
        daily = True
        parts = parts[:-1]
    if not parts:
        return RoundRef(None, daily)
    if len(parts) > 2:
        return None
    m = _ROUND_REF.fullmatch("".join(parts))
    if not m:
        return None
    number = _number(m["a"] or m["b"] or m["c"])
    return RoundRef(number, daily) if number is not None else None


def _title(text: str) -> str | None:
    title = text.strip()
    if not title or len(title) > MAX_TITLE_LENGTH:
        return None
    return title


def _scope(text: str | None) -> ScopeExpr | bool | None:
    """A ScopeExpr, None when absent, False when present but unreadable."""
    if text is None:
        return None
    expr = parse_scope(text)
    return expr if expr is not None else False


def _split_scope(text: str) -> tuple[str, str | None]:
    """Cut ``… 范围 <scope>`` off the end (范围 must start a word)."""
    m = _SCOPE_KEY.search(text)
    if not m:
        return text, None
    return text[: m.start()].strip(), text[m.end() :].strip()


def parse_open(text: str) -> OpenArgs | None:
    """``<标题> 截止 <时间> [范围 <范围>]`` (the 范围 part may also come before 截止)."""
    t = normalize(text)
    m = _DEADLINE_KEY.search(t)
    if not m:
        return None
    head, tail = t[: m.start()], t[m.end() :]
    head, scope_a = _split_scope(head)
    when, scope_b = _split_scope(tail)
    if scope_a is not None and scope_b is not None:
        return None
    title = _title(head)
    scope = _scope(scope_a if scope_a is not None else scope_b)
    if title is None or not when or scope is False or _DEADLINE_KEY.search(when):
        return None
    return OpenArgs(title, when, scope or None)


def clock_minutes(text: str) -> int | None:
    """Minutes after midnight of ``10:00`` / ``10点`` / ``10点半`` / ``24:00`` (= 1440)."""
    m = _CLOCK_RE.fullmatch(normalize(text))
    if not m:
        return None
    if m["h"] is not None:
        hour, minute = int(m["h"]), int(m["m"])
    else:
        hour_or_none = cn_to_int(m["h2"])
        minute_or_none = 30 if m["half"] else (cn_to_int(m["m2"]) if m["m2"] else 0)
        if hour_or_none is None or minute_or_none is None:
            return None
        hour, minute = hour_or_none, minute_or_none
    if minute > 59 or hour > 24 or (hour == 24 and minute):
        return None
    return hour * 60 + minute


def parse_daily(text: str) -> DailyArgs | StopDaily | None:
    """``<标题> <HH:MM>-<HH:MM> [范围 <范围>]`` or ``停止 <编号>``."""
    t = normalize(text)
    stop = _STOP_RE.fullmatch(t)
    if stop:
        number = _number(stop["n"])
        return StopDaily(number) if number is not None else None
    body, scope_text = _split_scope(t)
    windows = list(_WINDOW_RE.finditer(body))
    if len(windows) != 1 or windows[0].end() != len(body):
        return None
    window = windows[0]
    title = _title(body[: window.start()])
    opens, closes = clock_minutes(window["a"]), clock_minutes(window["b"])
    scope = _scope(scope_text)
    if title is None or opens is None or closes is None or scope is False:
        return None
    if not opens < closes or opens >= 24 * 60:
        return None
    return DailyArgs(title, opens, closes, scope or None)


MAX_REASON_LENGTH = 100
_SCOPE_LIST_SPLIT = re.compile(r"[、，,]")


@dataclass(frozen=True)
class RescreenArgs:
    round_no: int | None
    scopes: tuple[ScopeExpr, ...]
    reason: str


def parse_rescreen(text: str) -> RescreenArgs | None:
    """``[#N] <单元或范围>[、<单元或范围>…] [原因]``: ``#2 3-1、3-2 新增风险区``."""
    parts = normalize(text).split(maxsplit=1)
    round_no = None
    if parts:
        m = _ROUND_REF.fullmatch(parts[0])
        if m and (m["a"] or m["b"]):
            round_no = _number(m["a"] or m["b"])
            if round_no is None:
                return None
            parts = parts[1].split(maxsplit=1) if len(parts) > 1 else []
    if not parts:
        return None
    scopes = tuple(parse_scope(p) for p in _SCOPE_LIST_SPLIT.split(parts[0]) if p)
    reason = parts[1].strip() if len(parts) > 1 else ""
    if not scopes or any(x is None for x in scopes) or len(reason) > MAX_REASON_LENGTH:
        return None
    return RescreenArgs(round_no, scopes, reason)  # type: ignore[arg-type]


def split_subcommand(text: str) -> tuple[str, str]:
    """``发起 …`` → (``发起``, ``…``); the keyword may touch its argument."""
    t = normalize(text)
    for word in ("发起", "每天", "重排"):
        if t.startswith(word):
            return word, t[len(word) :].strip()
    return "", t
