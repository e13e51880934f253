"""What ``/提醒`` does, from its argument text to what is said: a reminder to the
chat it was typed in (once or every day), the list of them, or a cancellation.
The scheduler is armed (or disarmed) after the commit."""

from __future__ import annotations

from bot.kit import Out, Outcome, Sender, refusal, usage
from bot.permissions import STAFF_PERM
from bot.runtime import Runtime
from plugins.reminders import service, syntax
from plugins.reminders.service import Chat, ReminderError
from storage.repo import group_binding


async def _chat(rt: Runtime, sender: Sender) -> Chat:
    group = None
    if sender.group_id is not None:
        async with rt.db.read() as s:
            group = await group_binding(s, sender.platform, sender.group_id)
    return Chat(sender.platform, sender.bot_id, sender.account, sender.group_id, group)


async def remind_cmd(rt: Runtime, sender: Sender, text: str) -> Outcome:
    now = rt.now()
    parsed = syntax.parse_reminder(text, now)
    if parsed is None:
        return usage("reminder")
    chat = await _chat(rt, sender)
    try:
        if isinstance(parsed, syntax.ListReminders):
            async with rt.db.read() as s:
                rows, total = await service.listing(s, chat)
            return Outcome([Out("reminders/list", {
                "reminders": rows, "total": total, "private": chat.kind == "private",
                "previews": [service.preview(r.text) for r in rows],
            })])
        if isinstance(parsed, syntax.Cancel):
            staff = await sender.allowed(STAFF_PERM)
            async with rt.db.write() as s:
                cancelled = await service.cancel(
                    s, number=parsed.number, account=chat.account, staff=staff, now=now
                )
            if rt.scheduler is not None:
                rt.scheduler.disarm(cancelled.items)
            return Outcome([Out("reminders/cancelled", {"r": cancelled.reminder})])
        async with rt.db.write() as s:
            if isinstance(parsed, syntax.Daily):
                created = await service.create(
                    s, chat=chat, text=parsed.text, now=now, daily_minute=parsed.minute
                )
            else:
                created = await service.create(s, chat=chat, text=parsed.text, now=now,
                                               when=parsed.when)
    except ReminderError as err:
        return refusal(err)
    if rt.scheduler is not None:  # else the next start's rebuild arms it
        rt.scheduler.arm(created.item)
    return Outcome([Out("reminders/created", {
        "r": created.reminder, "private": chat.kind == "private",
        "daily": created.reminder.daily_minute is not None,
    })])
