"""Reminders (提醒): ``/提醒 <时间> <内容>`` to the chat it was typed in, once or
every day; plus the staff report of what a downtime made the scheduler miss."""

from __future__ import annotations

from nonebot import on_command
from nonebot.adapters import Bot, Event, Message
from nonebot.params import CommandArg
from nonebot.plugin import PluginMetadata

from bot.permissions import LEADER_PERM, STAFF_PERM, Guard
from bot.platforms import account_of, group_of, platform_of
from bot.reply import reply_template
from bot.runtime import Runtime, RuntimeDep
from plugins._common.commands import CommandSpec
from plugins.reminders import jobs, service, syntax
from plugins.reminders.service import Chat, ReminderError
from plugins.roster.service import group_binding

__plugin_meta__ = PluginMetadata(
    name="reminders",
    description="Reminders to a group or privately; missed ones reported to staff.",
    usage="/提醒",
    extra={
        "commands": [CommandSpec("提醒", LEADER_PERM, "reminder", "时限与预警")],
        "scheduler": jobs.HOOKS,
    },
)


async def _chat(rt: Runtime, bot: Bot, event: Event) -> Chat:
    gid = group_of(bot, event)
    group = None
    if gid is not None:
        async with rt.db.read() as s:
            group = await group_binding(s, platform_of(bot), gid)
    return Chat(platform_of(bot), bot.self_id, account_of(bot, event) or "", gid, group)


remind_cmd = on_command("提醒", priority=10, block=True)


@remind_cmd.handle(parameterless=[Guard(LEADER_PERM)])
async def _remind(
    bot: Bot, event: Event, args: Message = CommandArg(), rt: Runtime = RuntimeDep
) -> None:
    now = rt.now()
    parsed = syntax.parse_reminder(args.extract_plain_text(), now)
    if parsed is None:
        await reply_template(bot, event, "usage/reminder")
        return
    chat = await _chat(rt, bot, event)
    try:
        if isinstance(parsed, syntax.ListReminders):
            async with rt.db.read() as s:
                rows, total = await service.listing(s, chat)
            await reply_template(
                bot, event, "reminders/list", reminders=rows, total=total,
                private=chat.kind == "private", previews=[service.preview(r.text) for r in rows],
            )
            return
        if isinstance(parsed, syntax.Cancel):
            staff = await STAFF_PERM(bot, event)
            async with rt.db.write() as s:
                cancelled = await service.cancel(
                    s, number=parsed.number, account=chat.account, staff=staff, now=now
                )
            if rt.scheduler is not None:
                rt.scheduler.disarm(cancelled.items)
            await reply_template(bot, event, "reminders/cancelled", r=cancelled.reminder)
            return
        async with rt.db.write() as s:
            if isinstance(parsed, syntax.Daily):
                created = await service.create(
                    s, chat=chat, text=parsed.text, now=now, daily_minute=parsed.minute
                )
            else:
                created = await service.create(s, chat=chat, text=parsed.text, now=now,
                                               when=parsed.when)
    except ReminderError as err:
        await reply_template(bot, event, "reminders/error", code=err.code, **err.context)
        return
    if rt.scheduler is not None:  # else the next start's rebuild arms it
        rt.scheduler.arm(created.item)
    await reply_template(
        bot, event, "reminders/created", r=created.reminder, private=chat.kind == "private",
        daily=created.reminder.daily_minute is not None,
    )
