"""No reply that a leader receives in a group, errors included, is longer than 6 lines
at 20 Chinese characters a line, except /帮助 (roster/help), /进度 日报
(checkin/daily_report) and lists.

Every template is rendered with the sample contexts of tests/template_samples (as
tests/test_templates.py does), but with a realistic value where the samples put the
hostile placeholder: the group variant (``private`` false), each top-level flag of the
sample flipped once, and every error code an error template answers.

Also: the usage of every declared command carries at least two examples.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from jinja2 import meta

from ground.timeutil import fmt
from messages.render import TEMPLATE_DIR, Renderer
from tests.template_samples import HOSTILE, all_samples

MAX_LINES = 6
LINE_WIDTH = 20  # Chinese characters on a phone's line; an ASCII character is half one

# A typical 4-character Chinese value for whatever the samples fill with HOSTILE, except
# where a field is plainly not Chinese text (its name says so).
REALISTIC = "幸福社区"
REALISTIC_BY_NAME: dict[str, Any] = {
    "id": 12, "code": "K7Q2MX", "account": "qq:10001", "new_account": "qq:10002",
    "accounts": "qq:10001", "rebound_from": "qq:10003",
}
# Variables an error code reads that a flat string cannot stand for.
CODE_CONTEXT: dict[str, dict[str, Any]] = {
    "checkin/error": {"choices": [(3, "3栋2单元"), (4, "3栋2单元")]},
}

# Templates allowed to be longer, each with why.
EXEMPT: dict[str, str] = {
    # The two stated exceptions.
    "roster/help": "/帮助: every command the sender may use",
    "supervision/report": "/督查: a report, read in private or in the 纪检监督组 group",
    "checkin/daily_report": "/进度 日报: the daily report, by community and grid",
    # Lists (the name says so).
    "assist/list": "a list: the open 协查函",
    "broadcast/pending_list": "a list: the pending previews and asks",
    "checkin/open_list": "a list: the open rounds",
    "checkin/relay_list": "a list: one line per refused 接龙 line",
    "duties/list": "a list: the duties",
    "incidents/list": "a list: the open incidents",
    "policy/list": "a list: the policies",
    "policy/public_list": "a list: the policies",
    "quarantine/list": "a list: the people in quarantine (and private only)",
    "reminders/list": "a list: the pending reminders",
    "slogans/list": "a list: the slogans",
    # Lists by nature: one line (or one name) per item.
    "alerts/escalated": "lists the work groups that did not acknowledge",
    "alerts/round_overdue": "lists the unreported units with their leaders (up to 40)",
    "broadcast/ack_chased": "lists the groups that did not answer (up to 20)",
    "broadcast/preview": "lists the target groups (up to 10) and quotes the broadcast text",
    "checkin/mine": "lists the sender's reports and unreported units per open round",
    "checkin/missing": "/未报: lists the unreported units with their leaders",
    "checkin/opened": "lists the round's buildings (up to 30)",
    "checkin/progress": "lists the slowest buildings, one a line",
    "checkin/remind": "/催报 and reminders: list the unreported units with their leaders",
    "duties/chase": "lists the units that have not done the duty, with their leaders",
    "duties/occurrence": "lists the duty's buildings (up to 40)",
    "reminders/missed": "lists the scheduled messages missed while the bot was down",
    "roster/myinfo": "lists the sender's roles, one a line, and bound accounts",
    # Never in a group.
    "quarantine/registered": "/隔离 is private_only: a group gets common/private_only",
}
USAGE = "usage/"  # the full usage is shown only for a bare command or /帮助 <命令>


def display_lines(text: str) -> int:
    """Phone lines: each text line wraps every 20 CJK/full-width characters, ASCII
    counting half."""
    total = 0
    for line in text.splitlines():
        width = sum(0.5 if ord(ch) < 128 else 1 for ch in line)
        total += max(1, math.ceil(width / LINE_WIDTH))
    return total


class Plain(str):
    """The realistic value, also answering any attribute with itself (``bc.id``)."""

    def __getattr__(self, name: str) -> Plain:
        if name.startswith("__"):
            raise AttributeError(name)
        return Plain(REALISTIC)


def realistic(value: Any, name: str = "") -> Any:
    """A copy of a sample with HOSTILE replaced; ``name`` is the field holding it."""
    if isinstance(value, str):
        return REALISTIC_BY_NAME.get(name, REALISTIC) if value == HOSTILE else value
    if isinstance(value, dict):
        return {k: realistic(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [realistic(v, name) for v in value]
    if isinstance(value, tuple):
        return tuple(realistic(v, name) for v in value)
    if isinstance(value, SimpleNamespace):
        return SimpleNamespace(**{k: realistic(v, k) for k, v in vars(value).items()})
    return value


SAMPLES = {name: realistic(ctx) for name, ctx in all_samples().items()}


def renderer() -> Renderer:
    r = Renderer()
    # A flat placeholder standing for a time (an error code's ``when``) prints as one.
    r.env.filters["fmt_time"] = lambda dt: "11-29 20:00" if isinstance(dt, Plain) else fmt(dt)
    return r


def source_of(r: Renderer, name: str) -> str:
    return r.env.loader.get_source(r.env, f"{name}.j2")[0]


def variants(r: Renderer, name: str) -> list[tuple[str, dict]]:
    """(label, context): the sample in a group, each top-level flag flipped, each code."""
    source = source_of(r, name)
    names = meta.find_undeclared_variables(r.env.parse(source))
    base: dict[str, Any] = {}
    for v in names:
        fill = REALISTIC_BY_NAME.get(v, REALISTIC)
        base[v] = Plain(fill) if isinstance(fill, str) else fill
    base.update(SAMPLES.get(name, {}))
    base.update(CODE_CONTEXT.get(name, {}))
    if "private" in names:
        base["private"] = False  # in a group
    out = [("sample", base)]
    out += [(f"{k}={not v}", {**base, k: not v}) for k, v in base.items()
            if isinstance(v, bool) and k != "private"]
    for holder, code in re.findall(r"\b(?:(\w+)\.)?code == \"(\w+)\"", source):
        if holder:
            obj = base[holder]
            out.append((code, {**base, holder: SimpleNamespace(**{**vars(obj), "code": code})}))
        else:
            out.append((code, {**base, "code": code}))
    return out


def checked_templates() -> list[str]:
    return [n for n in Renderer().names() if not n.startswith(USAGE) and n not in EXEMPT]


@pytest.mark.parametrize("name", checked_templates())
def test_reply_fits_six_phone_lines(name: str) -> None:
    r = renderer()
    too_long = []
    for label, ctx in variants(r, name):
        out = r.render(name, **ctx)
        assert HOSTILE not in out and "[CQ:" not in out, (name, label, out)
        if display_lines(out) > MAX_LINES:
            too_long.append(f"[{label}] {display_lines(out)} lines:\n{out}")
    assert not too_long, f"{name} is longer than {MAX_LINES} lines:\n" + "\n".join(too_long)


def test_exemptions_name_existing_templates_and_cover_every_list() -> None:
    names = set(Renderer().names())
    assert set(EXEMPT) <= names, set(EXEMPT) - names
    assert {n for n in names if "list" in n.rsplit("/", 1)[-1]} <= set(EXEMPT)


def test_display_lines() -> None:
    assert display_lines("") == 0
    assert display_lines("一" * 20) == 1
    assert display_lines("一" * 21) == 2
    assert display_lines("a" * 40) == 1 and display_lines("a" * 41) == 2
    assert display_lines("一\n\n二") == 3


# --- examples in the usage of every declared command ------------------------------------------

# An example: a line starting 例： or 例（…）：, or 例： after a form's explanation.
_EXAMPLE = re.compile(r"(?:^|[\s，])例[：（]")


def test_every_declared_command_has_two_examples() -> None:
    from bot.kit import declared_commands

    commands = declared_commands()
    assert len(commands) > 30
    missing = {}
    for command in commands:
        path = Path(TEMPLATE_DIR, "usage", f"{command.usage}.j2")
        lines = path.read_text(encoding="utf-8").splitlines()
        assert lines[0].startswith(f"/{command.name}"), (command.usage, lines[0])
        examples = [line for line in lines if _EXAMPLE.search(line)]
        if len(examples) < 2:
            missing[command.usage] = len(examples)
        names = (command.name, *command.aliases)
        for line in lines:
            if line.startswith("例："):
                # The example is this command: /命令, ／命令 (a phone's slash) or 命令.
                word = line.removeprefix("例：").lstrip("/／").split(maxsplit=1)[0]
                assert word in names, (command.usage, line)
    assert not missing, f"usage templates with fewer than two examples: {missing}"
