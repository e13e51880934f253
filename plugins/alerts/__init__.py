"""The trigger chain (预警): ``/预警 <地区>`` asks every work group to acknowledge
within 2 h (``/收到 <编号>``) and opens a 48 h screening round over all units;
reminders before each deadline, escalation to the 综合协调组 when one is missed."""

from __future__ import annotations

from nonebot import on_command
from nonebot.adapters import Bot, Event, Message
from nonebot.params import CommandArg
from nonebot.plugin import PluginMetadata

from bot.permissions import MEMBER_PERM, STAFF_PERM, Guard
from bot.platforms import account_of, group_of, platform_of
from bot.reply import reply_template
from bot.runtime import Runtime, RuntimeDep
from plugins._common.commands import CommandSpec
from plugins.alerts import jobs, service
from plugins.alerts.service import AlertError
from plugins.reminders import targets
from plugins.roster.service import group_binding
from storage.places import bound_team_groups

__plugin_meta__ = PluginMetadata(
    name="alerts",
    description="Trigger chain: 2 h acknowledgements, a 48 h screening round, escalation.",
    usage="/预警 /收到",
    extra={
        "commands": [
            CommandSpec("预警", STAFF_PERM, "alert", "时限与预警"),
            CommandSpec("收到", MEMBER_PERM, "alert_ack", "时限与预警"),
        ],
        "scheduler": jobs.HOOKS,
    },
)


async def _origin(rt: Runtime, bot: Bot, event: Event):
    gid = group_of(bot, event)
    if gid is None:
        return None
    async with rt.db.read() as s:
        return await group_binding(s, platform_of(bot), gid)


async def _error(bot: Bot, event: Event, err: AlertError) -> None:
    await reply_template(bot, event, "alerts/error", code=err.code, **err.context)


alert_cmd = on_command("预警", priority=10, block=True)


@alert_cmd.handle(parameterless=[Guard(STAFF_PERM)])
async def _alert(
    bot: Bot, event: Event, args: Message = CommandArg(), rt: Runtime = RuntimeDep
) -> None:
    region = service.parse_region(args.extract_plain_text())
    if region is None:
        await reply_template(bot, event, "usage/alert")
        return
    origin = await _origin(rt, bot, event)
    try:
        async with rt.db.write() as s:
            started = await service.start(
                s, actor=account_of(bot, event) or "", region=region, now=rt.now()
            )
            source = jobs.source(started.alert.id)  # type: ignore[arg-type]
            notice = rt.renderer.render("alerts/notice", st=started, work=True)
            for group in started.groups:
                await rt.delivery.to_group(group, notice, session=s, source=source, priority=1)
            info = rt.renderer.render("alerts/notice", st=started, work=False)
            for group in await bound_team_groups(s, targets.COORDINATION_TEAM):
                if origin is None or group.id != origin.id:  # the reply says it there
                    await rt.delivery.to_group(group, info, session=s, source=source, priority=1)
    except AlertError as err:
        await _error(bot, event, err)
        return
    if rt.scheduler is not None:  # else the next start's rebuild arms them
        for item in started.items:
            rt.scheduler.arm(item)
    await reply_template(bot, event, "alerts/started", st=started)


ack_cmd = on_command("收到", priority=10, block=True)


@ack_cmd.handle(parameterless=[Guard(MEMBER_PERM)])
async def _ack(
    bot: Bot, event: Event, args: Message = CommandArg(), rt: Runtime = RuntimeDep
) -> None:
    number = service.parse_number(args.extract_plain_text())
    if number is None:
        await reply_template(bot, event, "usage/alert_ack")
        return
    origin = await _origin(rt, bot, event)
    try:
        async with rt.db.write() as s:
            acked = await service.acknowledge(
                s, group=origin, number=number, account=account_of(bot, event) or "",
                now=rt.now(),
            )
            if acked.remaining == 0:
                text = rt.renderer.render("alerts/all_acked", a=acked.alert, total=acked.total)
                for group in await bound_team_groups(s, targets.COORDINATION_TEAM):
                    await rt.delivery.to_group(
                        group, text, session=s, source=jobs.source(acked.alert.id),  # type: ignore[arg-type]
                    )
    except AlertError as err:
        await _error(bot, event, err)
        return
    if rt.scheduler is not None:
        rt.scheduler.disarm(acked.cancelled)
    await reply_template(bot, event, "alerts/acked", k=acked)
