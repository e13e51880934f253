"""Slogans (标语): a library rotated to the resident groups at the configured times."""

from __future__ import annotations

from datetime import datetime

from nonebot import on_command
from nonebot.adapters import Bot, Event, Message
from nonebot.params import CommandArg
from nonebot.plugin import PluginMetadata
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.permissions import STAFF_PERM, Guard
from bot.platforms import account_of
from bot.reply import reply_template
from bot.runtime import Runtime, RuntimeDep
from plugins._common.commands import CommandSpec
from plugins.slogans import jobs, service
from plugins.slogans.service import SloganArgs, SloganError

__plugin_meta__ = PluginMetadata(
    name="slogans",
    description="Slogan library rotated to resident groups at set times.",
    usage="/标语 添加|列表|删除|时间",
    extra={
        "commands": [CommandSpec("标语", STAFF_PERM, "slogan", "宣传")],
        "scheduler": jobs.HOOKS,
    },
)


async def _next_at(rt: Runtime, s: AsyncSession) -> datetime | None:
    minutes = await service.rotation_minutes(s)
    now = rt.now()
    return min((service.next_occurrence(m, now) for m in minutes), default=None)


async def _run(bot: Bot, event: Event, rt: Runtime, args: SloganArgs) -> None:
    actor = account_of(bot, event) or ""
    now = rt.now()
    if args.action == "list":
        async with rt.db.read() as s:
            slogans = await service.active_slogans(s)
            times = [service.hhmm(m) for m in await service.rotation_minutes(s)]
            next_at = await _next_at(rt, s) if slogans else None
        await reply_template(
            bot, event, "slogans/list", slogans=slogans, times=times, next_at=next_at
        )
        return
    if args.action == "add":
        async with rt.db.write() as s:
            slogan = await service.add(s, actor=actor, text=args.text, now=now)
            total = len(await service.active_slogans(s))
            times = [service.hhmm(m) for m in await service.rotation_minutes(s)]
        await reply_template(bot, event, "slogans/added", slogan=slogan, total=total, times=times)
        return
    if args.action == "delete":
        async with rt.db.write() as s:
            slogan, remaining = await service.delete(s, actor=actor, number=args.number, now=now)
        await reply_template(bot, event, "slogans/deleted", slogan=slogan, remaining=remaining)
        return
    async with rt.db.write() as s:
        changed = await service.set_times(
            s, actor=actor, minutes=args.minutes, now=now, quiet=rt.settings.quiet_hours
        )
        total = len(await service.active_slogans(s))
    if rt.scheduler is not None:  # else the next start's rebuild arms them
        rt.scheduler.disarm(changed.cancelled)
        for item in changed.armed:
            rt.scheduler.arm(item)
    await reply_template(
        bot, event, "slogans/times", times=[service.hhmm(m) for m in changed.minutes],
        next_at=min(i.due_at for i in changed.armed), total=total,
    )


slogan_cmd = on_command("标语", priority=10, block=True)


@slogan_cmd.handle(parameterless=[Guard(STAFF_PERM)])
async def _slogan(
    bot: Bot, event: Event, args: Message = CommandArg(), rt: Runtime = RuntimeDep
) -> None:
    parsed = service.parse_args(args.extract_plain_text())
    if parsed is None:
        await reply_template(bot, event, "usage/slogan")
        return
    try:
        await _run(bot, event, rt, parsed)
    except SloganError as err:
        await reply_template(bot, event, "slogans/error", code=err.code, **err.context)
