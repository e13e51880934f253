"""What the scheduler runs for reminders, and the staff report of missed items.

``reminder.due`` (``ref_id`` = the reminder's 编号) sends a one-off reminder;
``reminder.daily`` is recurring: the scheduler queues the next day with the
claim, and after a downtime sends one catch-up marked "补发".

The plugin also owns the scheduler's ``on_missed`` hook: what a downtime made
miss is listed once to staff (the 综合协调组, else the broadest work groups,
else the superusers privately) instead of being sent late to everyone.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.runtime import Runtime
from bot.scheduler import MissedItem, SchedulerHooks
from plugins._common import targets
from plugins._common.push import push
from plugins._common.rows import in_state
from plugins._common.starts import arm_on_start
from plugins.reminders import service
from plugins.reminders.service import KIND_DAILY, KIND_DUE
from storage.models import ChatGroup, ScheduledItem
from storage.models_deadlines import REMINDER_ACTIVE, REMINDER_SENT, Reminder
from storage.repo import group_binding

log = logging.getLogger("gridbot.reminders")
MISSED_SOURCE = "scheduler:missed"
PUSHABLE = ("work", "team")  # reminders carry staff text: never to groups of residents


def source(reminder: Reminder) -> str:
    return f"reminder:{reminder.id}"


async def _deliver(rt: Runtime, s: AsyncSession, reminder: Reminder, text: str) -> None:
    if reminder.chat_kind == "private":
        await rt.delivery.to_account(
            reminder.target, text, session=s, source=source(reminder), priority=1
        )
        return
    # The chat's binding now (it may have been bound or re-bound since), else the
    # unbound group it was typed in, on the account that heard it.
    group = await group_binding(s, reminder.platform, reminder.target) or ChatGroup(
        platform=reminder.platform, group_id=reminder.target, bot_id=reminder.bot_id, kind="work"
    )
    if group.kind not in PUSHABLE:
        log.warning("reminder #%s not sent: its group was re-bound for residents", reminder.id)
        return
    await rt.delivery.to_group(group, text, session=s, source=source(reminder), priority=1)


async def _send(rt: Runtime, item: ScheduledItem, *, once: bool) -> None:
    async with rt.db.write() as s:
        reminder = await in_state(s, Reminder, item.ref_id, REMINDER_ACTIVE)
        if reminder is None:
            return  # cancelled in the race between the timer and the claim
        now = rt.now()
        if once:
            reminder.state = REMINDER_SENT
        reminder.sent_at = now
        s.add(reminder)
        text = rt.renderer.render(
            "reminders/due", r=reminder, late=item.late, due_at=item.due_at, daily=not once
        )
        await _deliver(rt, s, reminder, text)


async def on_due(rt: Runtime, item: ScheduledItem) -> None:
    await _send(rt, item, once=True)


async def on_daily(rt: Runtime, item: ScheduledItem) -> None:
    await _send(rt, item, once=False)


async def describe(rt: Runtime, s: AsyncSession, item: ScheduledItem) -> str | None:
    reminder = await in_state(s, Reminder, item.ref_id, REMINDER_ACTIVE)
    if reminder is None:
        return None  # cancelled or already sent: nothing was lost
    return rt.renderer.render(
        "reminders/describe", r=reminder, where=await service.where_label(s, reminder),
        preview=service.preview(reminder.text),
    )


async def report_missed(rt: Runtime, s: AsyncSession, missed: Sequence[MissedItem]) -> None:
    """One summary of everything a downtime made miss, to staff."""
    text = rt.renderer.render("reminders/missed", items=missed)
    await push(rt, s, await targets.staff(s), text, source=MISSED_SOURCE)


ensure_daily = arm_on_start(service.ensure_daily)


HOOKS = SchedulerHooks(
    handlers={KIND_DUE: on_due, KIND_DAILY: on_daily},
    on_start=(ensure_daily,),
    describe={KIND_DUE: describe, KIND_DAILY: describe},
    on_missed=(report_missed,),
    recurring={KIND_DAILY: service.recurrence_of},
)
