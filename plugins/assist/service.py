"""协查函 (``/协查``): a task the 流调组 must complete within 24 hours.

Reminders go to the 流调组 at +12 h, +20 h and +23 h; at +24 h an unfinished
task is escalated to the 流调组 and to staff. ``/协查 完成 <函号>`` cancels
whatever is still pending.

Plain async functions over a session. Each either changes the database and
returns what it did, or raises ``AssistError`` before it has written anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.kit import CommandError
from bot.scheduler import add_item, as_utc, cancel_items
from ground.grammar import normalize
from messages.mask import scrub
from storage.models import ScheduledItem
from storage.models_deadlines import ASSIST_DONE, ASSIST_OPEN, AssistTask
from storage.repo import audit

KIND_REMIND = "assist.remind"
KIND_OVERDUE = "assist.overdue"
KINDS = (KIND_REMIND, KIND_OVERDUE)
WINDOW = timedelta(hours=24)
REMIND_AFTER = (timedelta(hours=12), timedelta(hours=20), timedelta(hours=23))
MAX_LETTER_LENGTH = 40
MAX_NOTE_LENGTH = 200
LIST_LIMIT = 30
RESERVED = frozenset({"完成", "列表"})

# A 函号 as printed on letters: 川疾控协〔2026〕15号, 2026-117, XC0012 — no spaces,
# at least one digit.
_LETTER_RE = re.compile(r"[\w\-〔〕\[\]()#·./]+")
_ZERO_WIDTH_RE = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")


class AssistError(CommandError):
    template = "assist/error"


# --- syntax ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Create:
    letter_no: str
    note: str = ""


@dataclass(frozen=True)
class Complete:
    letter_no: str


@dataclass(frozen=True)
class ListOpen:
    pass


def parse_letter(text: str) -> str | None:
    letter = normalize(text)
    if not letter or len(letter) > MAX_LETTER_LENGTH or letter in RESERVED:
        return None
    if not _LETTER_RE.fullmatch(letter) or not any(ch.isdigit() for ch in letter):
        return None
    return letter


def parse_assist(text: str) -> Create | Complete | ListOpen | None:
    """``<函号> [说明]`` · ``完成 <函号>`` · ``列表``; None = show the usage."""
    text = _ZERO_WIDTH_RE.sub("", text).strip()
    parts = text.split(maxsplit=1)
    if not parts:
        return None
    head, rest = normalize(parts[0]), parts[1].strip() if len(parts) > 1 else ""
    if head == "列表" and not rest:
        return ListOpen()
    if head == "完成":
        letter = parse_letter(rest)
        return Complete(letter) if letter is not None else None
    letter = parse_letter(parts[0])
    if letter is None or len(rest) > MAX_NOTE_LENGTH:
        return None
    # The note is read by a team group: phone and ID numbers masked (DESIGN.md §4).
    return Create(letter, scrub(" ".join(rest.split())))


# --- the task --------------------------------------------------------------------------------


async def by_letter(session: AsyncSession, letter_no: str) -> AssistTask | None:
    return (
        await session.exec(select(AssistTask).where(AssistTask.letter_no == letter_no))
    ).first()


@dataclass
class Created:
    task: AssistTask
    items: list[ScheduledItem]


async def create(
    session: AsyncSession, *, actor: str, letter_no: str, note: str, now: datetime
) -> Created:
    now = as_utc(now)
    existing = await by_letter(session, letter_no)
    if existing is not None:
        raise AssistError(
            "exists", letter=letter_no, state=existing.state, due_at=existing.due_at,
            done_at=existing.done_at,
        )
    task = AssistTask(
        letter_no=letter_no, note=note, created_by=actor, created_at=now, due_at=now + WINDOW
    )
    session.add(task)
    await session.flush()
    assert task.id is not None
    items = [await add_item(session, KIND_REMIND, task.id, now + after) for after in REMIND_AFTER]
    items.append(await add_item(session, KIND_OVERDUE, task.id, task.due_at))
    await audit(session, actor, "assist_create", f"#{task.id} {letter_no}")
    return Created(task, items)


@dataclass
class Completed:
    task: AssistTask
    cancelled: list[ScheduledItem]
    overdue_minutes: int  # 0 when on time


async def complete(
    session: AsyncSession, *, account: str, letter_no: str, now: datetime
) -> Completed:
    now = as_utc(now)
    task = await by_letter(session, letter_no)
    if task is None:
        raise AssistError("not_found", letter=letter_no)
    if task.state == ASSIST_DONE:
        raise AssistError("already_done", letter=letter_no, done_at=task.done_at)
    assert task.id is not None
    task.state, task.done_at, task.done_by = ASSIST_DONE, now, account
    session.add(task)
    cancelled = await cancel_items(session, KINDS, task.id)
    overdue = max(0, int((now - as_utc(task.due_at)).total_seconds() // 60))
    await audit(session, account, "assist_done", f"#{task.id} {letter_no} overdue_min={overdue}")
    return Completed(task, cancelled, overdue)


async def open_tasks(session: AsyncSession) -> list[AssistTask]:
    rows = await session.exec(
        select(AssistTask).where(AssistTask.state == ASSIST_OPEN).order_by(col(AssistTask.due_at))
    )
    return list(rows.all())


def hours_left(task: AssistTask, at: datetime) -> int:
    return max(0, round((as_utc(task.due_at) - as_utc(at)).total_seconds() / 3600))
