"""Reminders (``/提醒``): a text sent to one chat at a moment, or every day.

Plain async functions over a session. Each either changes the database and
returns what it did, or raises ``ReminderError`` (a code that selects a branch
of ``reminders/error``) before it has written anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import exists, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.kit import CommandError
from bot.scheduler import (
    Recurrence,
    add_item,
    as_utc,
    cancel_items,
    daily_at,
    ensure_recurring,
)
from messages.mask import scrub
from plugins._common.targets import group_label
from storage.models import ChatGroup, ScheduledItem
from storage.models_checkin import ITEM_PENDING
from storage.models_deadlines import (
    REMINDER_ACTIVE,
    REMINDER_CANCELLED,
    Reminder,
)
from storage.repo import audit

KIND_DUE = "reminder.due"
KIND_DAILY = "reminder.daily"
KINDS = (KIND_DUE, KIND_DAILY)
MAX_AHEAD = timedelta(days=366)
MAX_ACTIVE_PER_CHAT = 50  # a chat is not a calendar
LIST_LIMIT = 20
PREVIEW_LENGTH = 30  # how much of a reminder a list or a staff report quotes


class ReminderError(CommandError):
    template = "reminders/error"


@dataclass(frozen=True)
class Chat:
    """Where the command was typed: a group (bound or not) or a private chat."""

    platform: str
    bot_id: str
    account: str
    group_id: str | None  # platform group id; None in a private chat
    group: ChatGroup | None = None  # its binding, if any

    @property
    def kind(self) -> str:
        return "private" if self.group_id is None else "group"

    @property
    def target(self) -> str:
        return self.account if self.group_id is None else self.group_id


def preview(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= PREVIEW_LENGTH else text[:PREVIEW_LENGTH] + "…"


def _of_chat(chat: Chat):
    """The chat's reminders still to come: active, with a pending scheduler item
    (a one-off one whose moment a downtime made miss is over, not pending)."""
    return select(Reminder).where(
        Reminder.platform == chat.platform,
        Reminder.chat_kind == chat.kind,
        Reminder.target == chat.target,
        Reminder.state == REMINDER_ACTIVE,
        exists().where(
            col(ScheduledItem.kind).in_(KINDS),
            col(ScheduledItem.ref_id) == Reminder.id,
            col(ScheduledItem.state) == ITEM_PENDING,
        ),
    )


@dataclass
class Created:
    reminder: Reminder
    item: ScheduledItem


async def create(
    session: AsyncSession,
    *,
    chat: Chat,
    text: str,
    now: datetime,
    when: datetime | None = None,
    daily_minute: int | None = None,
) -> Created:
    now = as_utc(now)
    if daily_minute is None:
        assert when is not None
        when = as_utc(when)
        if when <= now:
            raise ReminderError("past", when=when)
        if when - now > MAX_AHEAD:
            raise ReminderError("too_far", days=MAX_AHEAD.days)
    active = (
        await session.exec(select(func.count()).select_from(_of_chat(chat).subquery()))
    ).one()
    if active >= MAX_ACTIVE_PER_CHAT:
        raise ReminderError("too_many", limit=MAX_ACTIVE_PER_CHAT)
    recurrence = daily_at(daily_minute) if daily_minute is not None else None
    due = recurrence.next_after(now) if recurrence is not None else when
    assert due is not None
    if chat.kind != "private":
        # Meant for the group: phones, ID numbers and rooms are masked before it is kept.
        text = scrub(text)
    reminder = Reminder(
        text=text, platform=chat.platform, bot_id=chat.bot_id, chat_kind=chat.kind,
        target=chat.target, chat_group_id=chat.group.id if chat.group else None,
        due_at=due, daily_minute=daily_minute, created_by=chat.account, created_at=now,
    )
    session.add(reminder)
    await session.flush()
    assert reminder.id is not None
    kind = KIND_DAILY if recurrence is not None else KIND_DUE
    item = await add_item(session, kind, reminder.id, due)
    await audit(
        session, chat.account, "reminder_add",
        f"#{reminder.id} {kind} due={due.isoformat()} chat={chat.kind}",
    )
    return Created(reminder, item)


async def listing(session: AsyncSession, chat: Chat) -> tuple[list[Reminder], int]:
    rows = list((await session.exec(_of_chat(chat).order_by(col(Reminder.due_at)))).all())
    return rows[:LIST_LIMIT], len(rows)


@dataclass
class Cancelled:
    reminder: Reminder
    items: list[ScheduledItem]


async def cancel(
    session: AsyncSession, *, number: int, account: str, staff: bool, now: datetime
) -> Cancelled:
    reminder = await session.get(Reminder, number)
    if reminder is None or (reminder.chat_kind == "private" and reminder.created_by != account):
        # Someone's private reminder is nobody else's business, staff included.
        raise ReminderError("not_found", number=number)
    if reminder.state != REMINDER_ACTIVE:
        raise ReminderError("not_active", number=number, state=reminder.state)
    if reminder.created_by != account and not staff:
        raise ReminderError("not_yours", number=number)
    reminder.state = REMINDER_CANCELLED
    reminder.cancelled_at, reminder.cancelled_by = as_utc(now), account
    session.add(reminder)
    items = await cancel_items(session, KINDS, number)
    await audit(session, account, "reminder_cancel", f"#{number}")
    return Cancelled(reminder, items)


async def recurrence_of(_rt, session: AsyncSession, ref_id: int) -> Recurrence | None:
    """For the scheduler: a daily reminder's recurrence while it is active."""
    reminder = await session.get(Reminder, ref_id)
    if reminder is None or reminder.state != REMINDER_ACTIVE or reminder.daily_minute is None:
        return None
    return daily_at(reminder.daily_minute)


async def ensure_daily(session: AsyncSession, now: datetime) -> list[ScheduledItem]:
    """Every active daily reminder has its next occurrence queued."""
    rows = (
        await session.exec(
            select(Reminder).where(
                Reminder.state == REMINDER_ACTIVE, col(Reminder.daily_minute).is_not(None)
            )
        )
    ).all()
    out = []
    for reminder in rows:
        assert reminder.id is not None and reminder.daily_minute is not None
        item = await ensure_recurring(
            session, KIND_DAILY, reminder.id, daily_at(reminder.daily_minute), now
        )
        if item is not None:
            out.append(item)
    return out


async def where_label(session: AsyncSession, reminder: Reminder) -> str:
    """The chat a reminder goes to, as staff read it in a report."""
    if reminder.chat_kind == "private":
        return "私聊"
    group = await session.get(ChatGroup, reminder.chat_group_id) if reminder.chat_group_id else None
    if group is not None:
        return await group_label(session, group)
    return f"群 {reminder.target}"
