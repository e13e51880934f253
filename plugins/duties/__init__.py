"""Recurring duties (任务: 消杀, 演练): ``/任务`` defines one, ``/完成`` checks a
unit in, and the leaders of units not done are reminded once the same day."""

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
from plugins.duties import jobs, service, syntax
from plugins.duties.service import DutyError
from plugins.roster.service import group_binding
from storage import places
from storage.repo import ALL, ScopeError, resolve_scope, scope_label
from storage.repo import Scope as ResolvedScope

__plugin_meta__ = PluginMetadata(
    name="duties",
    description="Recurring duties: occurrences, check-in, laggard reminders.",
    usage="/任务 /完成",
    extra={
        "commands": [
            CommandSpec("任务", STAFF_PERM, "duty", "任务"),
            CommandSpec("完成", LEADER_PERM, "duty_done", "任务"),
        ],
        "scheduler": jobs.HOOKS,
    },
)


async def _base(rt: Runtime, bot: Bot, event: Event) -> tuple[str, int] | None:
    """The bound scope of the group the command was typed in, for relative names."""
    gid = group_of(bot, event)
    if gid is None:
        return None
    async with rt.db.read() as s:
        g = await group_binding(s, platform_of(bot), gid)
    return (g.scope_kind, g.scope_id) if g else None


async def _error(bot: Bot, event: Event, err: DutyError | ScopeError) -> None:
    if isinstance(err, ScopeError):
        await reply_template(bot, event, "common/scope_error", code=err.code, value=err.value)
    else:
        await reply_template(bot, event, "duties/error", code=err.code, **err.context)


duty_cmd = on_command("任务", priority=10, block=True)


@duty_cmd.handle(parameterless=[Guard(STAFF_PERM)])
async def _duty(
    bot: Bot, event: Event, args: Message = CommandArg(), rt: Runtime = RuntimeDep
) -> None:
    parsed = syntax.parse_duty(args.extract_plain_text())
    if parsed is None:
        await reply_template(bot, event, "usage/duty")
        return
    actor = account_of(bot, event) or ""
    now = rt.now()
    try:
        if isinstance(parsed, syntax.ListDuties):
            async with rt.db.read() as s:
                duties, total = await service.list_duties(s, now)
            await reply_template(bot, event, "duties/list", duties=duties, total=total)
            return
        if isinstance(parsed, syntax.StopDuty):
            async with rt.db.write() as s:
                duty, cancelled = await service.stop(s, actor=actor, number=parsed.number, now=now)
            if rt.scheduler is not None:
                rt.scheduler.disarm(cancelled)
            await reply_template(bot, event, "duties/stopped", d=duty)
            return
        base = await _base(rt, bot, event)
        async with rt.db.write() as s:
            if parsed.scope is not None:
                scope = await resolve_scope(s, parsed.scope, base)
            elif base is not None and base[0] != "all":
                scope = ResolvedScope(base[0], (base[1],), await scope_label(s, *base))
            else:
                scope = ALL
            created = await service.create(
                s, actor=actor, args=parsed, scope=scope, now=now, quiet=rt.settings.quiet_hours
            )
    except (DutyError, ScopeError) as err:
        await _error(bot, event, err)
        return
    if rt.scheduler is not None:  # else the next start's rebuild arms it
        rt.scheduler.arm(created.item)
    await reply_template(bot, event, "duties/created", c=created,
                         hours=f"{service.chase_hours(rt.settings):g}")


done_cmd = on_command("完成", priority=10, block=True)


@done_cmd.handle(parameterless=[Guard(LEADER_PERM)])
async def _done(
    bot: Bot, event: Event, args: Message = CommandArg(), rt: Runtime = RuntimeDep
) -> None:
    parsed = syntax.parse_done(args.extract_plain_text())
    if parsed is None:
        await reply_template(bot, event, "usage/duty_done")
        return
    account = account_of(bot, event) or ""
    now = rt.now()
    base = await _base(rt, bot, event)
    try:
        async with rt.db.write() as s:
            who = await places.standing(
                s, account, now, superuser=account in rt.settings.superusers
            )
            unit = await places.resolve_unit(s, parsed.unit, base) if parsed.unit else None
            done = await service.mark_done(s, who=who, number=parsed.number, unit=unit, now=now)
    except (DutyError, ScopeError) as err:
        await _error(bot, event, err)
        return
    await reply_template(bot, event, "duties/done", d=done)
