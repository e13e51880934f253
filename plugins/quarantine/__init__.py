"""Home quarantine (居家隔离): ``/隔离 登记|列表|解除`` and ``/健康``, private chat only.

Daily health-check reminders and the end date go privately to the unit's
leader; a fever or symptoms alert the 四人一专班 (unit and masked name only).
Nothing of it ever reaches a resident group (DESIGN.md §4).
"""

from __future__ import annotations

from nonebot import on_command
from nonebot.adapters import Bot, Event, Message
from nonebot.params import CommandArg
from nonebot.plugin import PluginMetadata

from bot.permissions import LEADER_PERM
from bot.platforms import account_of, group_of
from bot.reply import reply_template
from bot.runtime import Runtime, RuntimeDep
from plugins._common.commands import CommandSpec
from plugins.quarantine import jobs, service, syntax
from plugins.quarantine.service import QuarantineError
from storage import places
from storage.repo import ScopeError

__plugin_meta__ = PluginMetadata(
    name="quarantine",
    description="Home quarantine: registration, health-check reminders, fever alerts.",
    usage="/隔离 登记|列表|解除 /健康",
    extra={
        "commands": [
            CommandSpec("隔离", LEADER_PERM, "quarantine", "隔离与事件"),
            CommandSpec("健康", LEADER_PERM, "health", "隔离与事件"),
        ],
        "scheduler": jobs.HOOKS,
    },
)


async def _admitted(bot: Bot, event: Event) -> bool:
    """Private chat first (before anything is parsed or written), then the role."""
    if group_of(bot, event) is not None:
        await reply_template(bot, event, "common/private_only")
        return False
    if not await LEADER_PERM(bot, event):
        await reply_template(bot, event, "common/refused")
        return False
    return True


async def _error(bot: Bot, event: Event, err: QuarantineError | ScopeError) -> None:
    if isinstance(err, ScopeError):
        await reply_template(bot, event, "common/scope_error", code=err.code, value=err.value)
    else:
        await reply_template(bot, event, "quarantine/error", code=err.code, **err.context)


async def _who(rt: Runtime, bot: Bot, event: Event) -> places.Standing:
    account = account_of(bot, event) or ""
    async with rt.db.read() as s:
        return await places.standing(
            s, account, rt.now(), superuser=account in rt.settings.superusers
        )


quarantine_cmd = on_command("隔离", priority=10, block=True)


@quarantine_cmd.handle()
async def _quarantine(
    bot: Bot, event: Event, args: Message = CommandArg(), rt: Runtime = RuntimeDep
) -> None:
    if not await _admitted(bot, event):
        return
    now = rt.now()
    parsed = syntax.parse_quarantine(args.extract_plain_text(), now)
    if parsed is None:
        await reply_template(bot, event, "usage/quarantine")
        return
    who = await _who(rt, bot, event)
    try:
        if isinstance(parsed, syntax.ListEntries):
            async with rt.db.read() as s:
                listing = await service.list_entries(s, who, now)
            await reply_template(bot, event, "quarantine/list", listing=listing)
        elif isinstance(parsed, syntax.Release):
            async with rt.db.write() as s:
                released = await service.release(s, who=who, number=parsed.number, now=now)
            if rt.scheduler is not None:
                rt.scheduler.disarm(released.cancelled)
            await reply_template(bot, event, "quarantine/released", r=released)
        else:
            minute = service.check_minute(rt.settings)
            async with rt.db.write() as s:
                registered = await service.register(
                    s, who=who, args=parsed, now=now, minute=minute
                )
            if rt.scheduler is not None:  # else the next start's rebuild arms them
                for item in registered.items:
                    rt.scheduler.arm(item)
            await reply_template(
                bot, event, "quarantine/registered", r=registered,
                time=f"{minute // 60:02d}:{minute % 60:02d}",
            )
    except (QuarantineError, ScopeError) as err:
        await _error(bot, event, err)


health_cmd = on_command("健康", priority=10, block=True)


@health_cmd.handle()
async def _health(
    bot: Bot, event: Event, args: Message = CommandArg(), rt: Runtime = RuntimeDep
) -> None:
    if not await _admitted(bot, event):
        return
    threshold = service.fever_centi(rt.settings)
    parsed = syntax.parse_health(args.extract_plain_text())
    if parsed is None:
        await reply_template(bot, event, "usage/health", threshold=syntax.fmt_temp(threshold))
        return
    who = await _who(rt, bot, event)
    try:
        async with rt.db.write() as s:
            checked = await service.record_health(
                s, who=who, number=parsed.number, temp_centi=parsed.temp_centi,
                symptoms=parsed.symptoms, now=rt.now(), threshold=threshold,
            )
            if checked.abnormal:
                # Queued with the record itself: the alert cannot be lost after the commit.
                # Symptoms are free text: the team's group hears that there are some,
                # its members read them privately.
                in_group = rt.renderer.render("quarantine/health_alert", c=checked, private=False)
                private = rt.renderer.render("quarantine/health_alert", c=checked, private=True)
                source = f"quarantine:{checked.entry.id}"
                for group in checked.alert_groups:
                    await rt.delivery.to_group(
                        group, in_group, session=s, source=source, priority=1
                    )
                accounts = checked.alert_accounts
                if checked.symptoms and checked.alert_groups:
                    accounts = await places.team_accounts(s, service.ALERT_TEAM)
                for account in accounts:
                    await rt.delivery.to_account(
                        account, private, session=s, source=source, priority=1
                    )
    except QuarantineError as err:
        await _error(bot, event, err)
        return
    await reply_template(bot, event, "quarantine/health_ok", c=checked)
