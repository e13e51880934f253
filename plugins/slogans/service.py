"""Slogan library and rotation: plain async functions over a session.

Each command function either changes the database and returns what it did, or
raises ``SloganError`` with a code (a branch of ``slogans/error``) before writing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.kit import CommandError
from bot.scheduler import add_item, as_utc, cancel_items
from ground.grammar import normalize
from ground.quiet import in_quiet_hours
from ground.timeutil import SHANGHAI, local
from storage.models import ChatGroup, ScheduledItem
from storage.models_checkin import ITEM_PENDING
from storage.models_publicity import Slogan, SloganLast, SloganTime
from storage.repo import audit

KIND_ROTATE = "slogan.rotate"
MAX_TEXT = 100  # a slogan is one line; longer notices are broadcasts
MAX_TIMES = 6
# Routine publicity yields to everything else waiting in the same queue.
PRIORITY = -1


class SloganError(CommandError):
    template = "slogans/error"


# --- syntax ------------------------------------------------------------------------------

_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_NUMBER = re.compile(r"^#?(\d{1,9})$")
_VERB = re.compile(r"^\s*(添加|列表|删除|时间)(.*)$", re.S)


@dataclass(frozen=True)
class SloganArgs:
    action: str  # add | list | delete | times
    text: str = ""
    number: int = 0
    minutes: tuple[int, ...] = ()


def parse_minutes(raw: str) -> tuple[int, ...] | None:
    """`08:00,18:00` (also `，` `、`, spaces, `：`) -> sorted distinct minutes after midnight."""
    parts = [p for p in re.split(r"[,;\s]+", normalize(raw)) if p]
    if not parts or len(parts) > MAX_TIMES:
        return None
    minutes = set()
    for p in parts:
        m = _HHMM.match(p)
        if m is None:
            return None
        minutes.add(int(m.group(1)) * 60 + int(m.group(2)))
    return tuple(sorted(minutes))


def parse_args(raw: str) -> SloganArgs | None:
    """`添加 <内容>` · `列表` · `删除 <编号>` · `时间 08:00,18:00`; None = show usage."""
    m = _VERB.match(raw)
    if m is None:
        return None
    verb, rest = m.group(1), m.group(2).strip()
    if verb == "添加":
        # Kept as typed (no NFKC: a slogan's full-width punctuation is part of it),
        # on one line: it is pushed as a single short notice.
        content = " ".join(rest.split())
        return SloganArgs("add", text=content) if content else None
    if verb == "列表":
        return SloganArgs("list") if not rest else None
    if verb == "删除":
        n = _NUMBER.match(normalize(rest))
        return SloganArgs("delete", number=int(n.group(1))) if n else None
    minutes = parse_minutes(rest)
    return SloganArgs("times", minutes=minutes) if minutes else None


def hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def next_occurrence(minute: int, after: datetime) -> datetime:
    """The first local `minute` of a day strictly after `after` (aware UTC result)."""
    t = local(after)
    at = datetime.combine(t.date(), time(minute // 60, minute % 60), tzinfo=SHANGHAI)
    if at <= t:
        at += timedelta(days=1)  # Asia/Shanghai has no DST: a day is 24 h
    return as_utc(at)


# --- library -----------------------------------------------------------------------------


async def active_slogans(session: AsyncSession) -> list[Slogan]:
    rows = await session.exec(
        select(Slogan).where(col(Slogan.deleted_at).is_(None)).order_by(Slogan.id)
    )
    return list(rows.all())


async def rotation_minutes(session: AsyncSession) -> list[int]:
    return list((await session.exec(select(SloganTime.minute).order_by(SloganTime.minute))).all())


async def add(session: AsyncSession, *, actor: str, text: str, now: datetime) -> Slogan:
    if len(text) > MAX_TEXT:
        raise SloganError("too_long", limit=MAX_TEXT, length=len(text))
    same = (
        await session.exec(
            select(Slogan).where(Slogan.text == text, col(Slogan.deleted_at).is_(None))
        )
    ).first()
    if same is not None:
        raise SloganError("duplicate", number=same.id)
    slogan = Slogan(text=text, created_by=actor, created_at=now)
    session.add(slogan)
    await session.flush()
    await audit(session, actor, "slogan_add", f"#{slogan.id}")
    return slogan


async def delete(
    session: AsyncSession, *, actor: str, number: int, now: datetime
) -> tuple[Slogan, int]:
    """Retire a slogan; returns it and how many remain in the library."""
    slogan = await session.get(Slogan, number)
    if slogan is None or slogan.deleted_at is not None:
        raise SloganError("not_found", number=number)
    slogan.deleted_at, slogan.deleted_by = now, actor
    session.add(slogan)
    await audit(session, actor, "slogan_delete", f"#{slogan.id}")
    await session.flush()
    return slogan, len(await active_slogans(session))


@dataclass
class TimesChanged:
    minutes: list[int]
    armed: list[ScheduledItem]  # arm after commit
    cancelled: list[ScheduledItem]  # disarm after commit


async def set_times(
    session: AsyncSession,
    *,
    actor: str,
    minutes: Sequence[int],
    now: datetime,
    quiet: str,
) -> TimesChanged:
    """Replace the rotation times; each keeps exactly one pending scheduler item."""
    loud = [m for m in minutes if in_quiet_hours(m, quiet)]
    if loud:
        raise SloganError("quiet", times=[hhmm(m) for m in loud], quiet=quiet)
    old = await rotation_minutes(session)
    cancelled: list[ScheduledItem] = []
    for minute in old:
        if minute not in minutes:
            cancelled += await cancel_items(session, [KIND_ROTATE], minute)
            row = await session.get(SloganTime, minute)
            if row is not None:
                await session.delete(row)
    armed = []
    for minute in minutes:
        row = await session.get(SloganTime, minute) or SloganTime(minute=minute)
        row.set_by, row.set_at = actor, now
        session.add(row)
        armed.append(await ensure_item(session, minute, now))
    await audit(session, actor, "slogan_times", ",".join(hhmm(m) for m in minutes))
    await session.flush()
    return TimesChanged(list(minutes), armed, cancelled)


async def ensure_item(session: AsyncSession, minute: int, now: datetime) -> ScheduledItem:
    """The pending rotation item of a time, created for its next occurrence if missing."""
    pending = (
        await session.exec(
            select(ScheduledItem)
            .where(
                ScheduledItem.kind == KIND_ROTATE,
                ScheduledItem.ref_id == minute,
                ScheduledItem.state == ITEM_PENDING,
            )
            .order_by(ScheduledItem.due_at)
        )
    ).first()
    if pending is not None:
        return pending
    return await add_item(session, KIND_ROTATE, minute, next_occurrence(minute, now))


# --- rotation ----------------------------------------------------------------------------


def next_slogan(library: Sequence[Slogan], last_id: int | None) -> Slogan:
    """The slogan after `last_id` in library order, wrapping around.

    Never `last_id` again while the library holds two or more; a retired last
    slogan simply continues with the one after it.
    """
    assert library
    if last_id is not None:
        for s in library:
            if s.id is not None and s.id > last_id:
                return s
    return library[0]


async def resident_groups(session: AsyncSession) -> list[ChatGroup]:
    rows = await session.exec(
        select(ChatGroup).where(ChatGroup.kind == "resident").order_by(ChatGroup.id)
    )
    return list(rows.all())


async def plan_rotation(session: AsyncSession, now: datetime) -> list[tuple[ChatGroup, Slogan]]:
    """Pick each resident group's next slogan and remember it (in the caller's
    transaction, together with the outbox rows that carry it)."""
    library = await active_slogans(session)
    groups = await resident_groups(session)
    memory = {row.chat_group_id: row for row in (await session.exec(select(SloganLast))).all()}
    for gone in set(memory) - {g.id for g in groups}:  # groups unbound since: forget them
        await session.delete(memory.pop(gone))
    plan = []
    for group in groups if library else ():
        assert group.id is not None
        row = memory.get(group.id)
        pick = next_slogan(library, row.slogan_id if row else None)
        assert pick.id is not None
        row = row or SloganLast(chat_group_id=group.id, slogan_id=pick.id)
        row.slogan_id, row.sent_at = pick.id, now
        session.add(row)
        plan.append((group, pick))
    await session.flush()
    return plan
