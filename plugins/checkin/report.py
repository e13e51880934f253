"""The report grammar of ``/打卡``: ``[#N] [<单元>] 已排查<n>户 [返区<n>] [隔离<n>]
[异常<n>] [空置<n>] [外出<n>] [拒访<n>] [备注 <text>]`` in any order. Pure functions,
built on the ground floor's numerals and units.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Literal

from ground.grammar import (
    BUILDING_SUFFIX,
    MAX_COUNT,
    MAX_NOTE_LENGTH,
    NUM,
    UNIT_RE,
    WHITESPACE_RE,
    UnitRef,
    cn_to_int,
    normalize,
    strip_zero_width,
    suggestion,
    unit_from_match,
)

ReportErrorCode = Literal[
    "empty",
    "no_households",
    "bad_number",
    "bad_unit",
    "duplicate_field",
    "too_large",
    "unknown_text",
    "note_too_long",
]


@dataclass(frozen=True)
class ParseError:
    """Why a report was rejected; ``code`` selects the usage template.

    * ``empty`` — nothing after the command.
    * ``no_households`` — no 已排查<n>户 / 排查<n>户 / <n>户 field.
    * ``bad_number`` — a field keyword without a valid number (``返区abc``, ``已排查户``,
      ``隔离十十``) or a round number below 1 (``#0``).
    * ``bad_unit`` — something unit-like that is not a unit: numbers outside 1..999
      (``0栋2单元``), or a building or unit alone (``3栋``, ``2单元``).
    * ``duplicate_field`` — a field given twice (two households, two units, two rounds, …).
    * ``too_large`` — a number above ``MAX_COUNT`` (100000).
    * ``unknown_text`` — text that is none of the fields and not after 备注.
    * ``note_too_long`` — the 备注 is longer than ``MAX_NOTE_LENGTH`` characters.

    Fields are read left to right and the first problem found is reported; ``no_households``
    is only reported when everything else was readable. ``part`` is the text where
    reading stopped (up to the next separator, at most ``_PART_LENGTH`` characters), and
    ``guess`` what it probably meant when it is a field word one edit away
    (``反区1`` → ``返区1``).
    """

    code: ReportErrorCode
    part: str = ""
    guess: str | None = None


@dataclass(frozen=True)
class Report:
    """A parsed check-in: absent optional counts are 0, absent round/unit are None."""

    round_no: int | None
    unit: UnitRef | None
    households: int
    returned: int = 0
    isolated: int = 0
    abnormal: int = 0
    note: str = ""
    vacant: int = 0
    away: int = 0
    refused: int = 0


# 备注 is located in the raw text (after dropping zero-width characters) so the note keeps the
# user's own punctuation: NFKC would turn 发热，已送医 into 发热,已送医.
_NOTE_RE = re.compile(r"备注\s*[:：]?\s*")
_FIELD_SEPARATOR_RE = re.compile(r"[\s,;。:]+")
_ROUND_RE = re.compile(rf"#\s?(?P<n>{NUM})?|第\s?(?P<n2>{NUM})\s?轮")
_PARTIALUNIT_RE = re.compile(rf"{NUM}\s?(?:{BUILDING_SUFFIX}|单元)")
# How households are said, typed in a hurry or by voice input: the verb forms
# before the count (longest first, so 已经排查 is not read as 已 + 排查).
HOUSEHOLD_VERBS = (
    "已经排查", "已排查", "排查完毕", "排查完", "排查了", "排查", "已经查", "已查", "查了",
    "共计", "合计", "共",
)
_HOUSEHOLDS_KEY_RE = re.compile(
    rf"(?:{'|'.join(HOUSEHOLD_VERBS)})\s?[:=]?\s?(?P<n>{NUM})?(?:\s?[户人])?"
)
_HOUSEHOLDS_BARE_RE = re.compile(rf"(?P<n>{NUM})\s?户")
_COUNT_FIELD_RE = re.compile(
    rf"(?P<key>返区|隔离|异常|空置|外出|拒访)\s?[:=]?\s?(?P<n>{NUM}|无)?(?:\s?[人户])?"
)
# "No abnormal cases" said as a phrase: the count is 0.
NONE_PHRASES = MappingProxyType({
    "无异常": "abnormal", "没有异常": "abnormal", "均无异常": "abnormal",
    "无返区": "returned", "没有返区": "returned", "无隔离": "isolated", "没有隔离": "isolated",
    "无空置": "vacant", "无外出": "away", "无拒访": "refused", "没有拒访": "refused",
})
_NONE_PHRASE_RE = re.compile("|".join(sorted(NONE_PHRASES, key=len, reverse=True)))
# 空置 (vacant), 外出 (away, reached by phone) and 拒访 (refused) are households not
# screened for a reason: they count toward coverage, 拒访 is listed for staff.
_COUNT_FIELDS = MappingProxyType({
    "返区": "returned", "隔离": "isolated", "异常": "abnormal",
    "空置": "vacant", "外出": "away", "拒访": "refused",
})
# More digits than this cannot be <= MAX_COUNT; checked before int() so that a pasted wall of
# digits is "too_large" rather than a conversion error.
_MAX_COUNT_DIGITS = len(str(MAX_COUNT))

_FieldValue = int | UnitRef
# The words a field starts with, for "did you mean" (NONE_PHRASES are matched whole).
FIELD_WORDS = (*HOUSEHOLD_VERBS, *_COUNT_FIELDS, "备注")
_PART_LENGTH = 12
_PART_END_RE = re.compile(r"[\s,;。:]")


def _stopped_at(s: str, pos: int, err: ParseError) -> ParseError:
    """``err`` with the fragment it is about and, for unknown text, a likely fix."""
    end = _PART_END_RE.search(s, pos)
    part = s[pos : end.start() if end else len(s)][:_PART_LENGTH]
    guess = None
    if err.code == "unknown_text":
        word = suggestion(part, FIELD_WORDS)
        # A field word spelt right but not allowed here (a count in a withdrawal) has no fix.
        guess = word + part[len(word):] if word and not part.startswith(word) else None
    return replace(err, part=part, guess=guess)


def _count(raw: str | None) -> int | ParseError:
    if raw is None:
        return ParseError("bad_number")
    if raw == "无":
        return 0
    if raw.isascii() and len(raw.lstrip("0")) > _MAX_COUNT_DIGITS:
        return ParseError("too_large")
    value = cn_to_int(raw)
    if value is None:
        return ParseError("bad_number")
    if value > MAX_COUNT:
        return ParseError("too_large")
    return value


def _next_field(s: str, pos: int) -> tuple[str, _FieldValue, int] | ParseError:
    """Read the field starting at ``pos``: (field name, value, end position) or an error."""
    m = _ROUND_RE.match(s, pos)
    if m:
        value = _count(m["n"] if m["n"] is not None else m["n2"])
        if isinstance(value, ParseError):
            return value
        return ("round_no", value, m.end()) if value >= 1 else ParseError("bad_number")
    m = UNIT_RE.match(s, pos)
    if m:
        unit = unit_from_match(m)
        return ("unit", unit, m.end()) if unit else ParseError("bad_unit")
    if _PARTIALUNIT_RE.match(s, pos):
        return ParseError("bad_unit")
    m = _HOUSEHOLDS_KEY_RE.match(s, pos) or _HOUSEHOLDS_BARE_RE.match(s, pos)
    if m:
        value = _count(m["n"])
        return value if isinstance(value, ParseError) else ("households", value, m.end())
    m = _NONE_PHRASE_RE.match(s, pos)
    if m:
        return (NONE_PHRASES[m.group(0)], 0, m.end())
    m = _COUNT_FIELD_RE.match(s, pos)
    if m:
        value = _count(m["n"])
        if isinstance(value, ParseError):
            return value
        return (_COUNT_FIELDS[m["key"]], value, m.end())
    return ParseError("unknown_text")


def _read_fields(
    s: str, pos: int = 0, only: tuple[str, ...] | None = None
) -> dict[str, _FieldValue] | ParseError:
    """The fields from ``pos`` to the end, each once; ``only``: the fields allowed."""
    fields: dict[str, _FieldValue] = {}
    while True:
        separator = _FIELD_SEPARATOR_RE.match(s, pos)
        if separator:
            pos = separator.end()
        if pos >= len(s):
            return fields
        found = _next_field(s, pos)
        if isinstance(found, ParseError):
            return _stopped_at(s, pos, found)
        name, value, end = found
        if only is not None and name not in only:
            return _stopped_at(s, pos, ParseError("unknown_text"))
        if name in fields:
            return _stopped_at(s, pos, ParseError("duplicate_field"))
        fields[name] = value
        pos = end


@dataclass(frozen=True)
class Withdraw:
    """``/打卡 撤销 [#N] [<单元>]``: which of the sender's own reports to take back."""

    round_no: int | None = None
    unit: UnitRef | None = None


WITHDRAW_WORDS = ("撤销", "撤回", "撤消")


def parse_withdraw(text: str) -> Withdraw | ParseError | None:
    """None when ``text`` is not a withdrawal; else the round and unit it names
    (each optional, in any order, nothing else)."""
    fields_text = normalize(strip_zero_width(text))
    word = next((w for w in WITHDRAW_WORDS if fields_text.startswith(w)), None)
    if word is None:
        return None
    fields = _read_fields(fields_text, len(word), only=("round_no", "unit"))
    if isinstance(fields, ParseError):
        return fields
    unit, round_no = fields.get("unit"), fields.get("round_no")
    return Withdraw(
        round_no=round_no if isinstance(round_no, int) else None,
        unit=unit if isinstance(unit, UnitRef) else None,
    )


def parse_report(text: str) -> Report | ParseError:
    """Parse the arguments of ``/打卡``.

    Grammar: ``[#N] [<单元>] 已排查<n>户 [返区<n>] [隔离<n>] [异常<n>] [备注 <text>]``.

    * ``#N`` may be ``＃N`` or ``第N轮``; the unit takes any :func:`parse_unit` form.
    * households: one of ``HOUSEHOLD_VERBS`` (``已排查``, ``已经排查``, ``排查了``, ``排查完毕``,
      ``查了``, ``共`` …) then the count, or ``<n>户``; 户 (or 人) after the count is optional
      after a verb.
    * ``返区`` ``隔离`` ``异常`` ``空置`` ``外出`` ``拒访``: optional ``:``, then a number or
      ``无`` (= 0), optionally followed by 人 or 户; or a phrase of ``NONE_PHRASES``
      (``无异常``, ``没有异常`` …) for 0. Absent ones are 0.
    * fields come in any order, separated by spaces, ``,`` ``，`` ``、`` ``;`` ``；`` ``。`` or
      nothing at all (``3栋2单元已排查24户返区0隔离1异常0``).
    * ``备注`` (also ``备注:`` / ``备注：``) ends the fields: everything after it is the note,
      verbatim except that whitespace is collapsed and trimmed.
    * numbers may be full-width or Chinese numerals; each is capped at ``MAX_COUNT``.

    See :class:`ParseError` for the error codes.
    """
    raw = strip_zero_width(text)
    if not normalize(raw):
        return ParseError("empty")
    note_match = _NOTE_RE.search(raw)
    note = ""
    if note_match:
        note = WHITESPACE_RE.sub(" ", raw[note_match.end() :]).strip()
        raw = raw[: note_match.start()]
    fields = _read_fields(normalize(raw))
    if isinstance(fields, ParseError):
        return fields
    if len(note) > MAX_NOTE_LENGTH:
        return ParseError("note_too_long")
    counts = {name: value for name, value in fields.items() if isinstance(value, int)}
    if "households" not in counts:
        return ParseError("no_households")
    unit = fields.get("unit")
    return Report(
        round_no=counts.get("round_no"),
        unit=unit if isinstance(unit, UnitRef) else None,
        households=counts["households"],
        returned=counts.get("returned", 0),
        isolated=counts.get("isolated", 0),
        abnormal=counts.get("abnormal", 0),
        note=note,
        vacant=counts.get("vacant", 0),
        away=counts.get("away", 0),
        refused=counts.get("refused", 0),
    )


