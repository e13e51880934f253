"""Incidents (事件): ``/事件`` alerts the 应急小分队, ``/处理`` acknowledges,
``/办结`` closes; unacknowledged ones escalate to staff (DESIGN.md §3)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nonebot import on_command
from nonebot.adapters import Bot, Event, Message
from nonebot.params import CommandArg
from nonebot.plugin import PluginMetadata
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.permissions import Guard, role_permission
from bot.platforms import account_of, group_of, platform_of
from bot.reply import reply_template
from bot.runtime import Runtime, RuntimeDep
from plugins._common.commands import CommandSpec
from plugins.incidents import jobs, service, syntax
from plugins.incidents.service import RESPONSE_TEAM, Handled, IncidentError
from plugins.roster.service import group_binding
from storage import places
from storage.models import ChatGroup
from storage.repo import ADMIN, BUILDING_LEADER, STAFF, UNIT_LEADER, VOLUNTEER, ScopeError

# Whoever works in the street may report; only the squad and staff take incidents on.
REPORT_PERM = role_permission(ADMIN, STAFF, BUILDING_LEADER, UNIT_LEADER, VOLUNTEER, RESPONSE_TEAM)
RESPONDER_PERM = role_permission(ADMIN, STAFF, RESPONSE_TEAM)

__plugin_meta__ = PluginMetadata(
    name="incidents",
    description="Incidents: alert the squad, acknowledge, close, escalate when ignored.",
    usage="/事件 /处理 /办结",
    extra={
        "commands": [
            CommandSpec("事件", REPORT_PERM, "incident", "隔离与事件"),
            CommandSpec("处理", RESPONDER_PERM, "incident_ack", "隔离与事件"),
            CommandSpec("办结", RESPONDER_PERM, "incident_close", "隔离与事件"),
        ],
        "scheduler": jobs.HOOKS,
    },
)


async def _who(rt: Runtime, bot: Bot, event: Event) -> places.Standing:
    account = account_of(bot, event) or ""
    async with rt.db.read() as s:
        return await places.standing(
            s, account, rt.now(), superuser=account in rt.settings.superusers
        )


async def _error(bot: Bot, event: Event, err: IncidentError | ScopeError) -> None:
    if isinstance(err, ScopeError):
        await reply_template(bot, event, "common/scope_error", code=err.code, value=err.value)
    else:
        await reply_template(bot, event, "incidents/error", code=err.code, **err.context)


async def _origin(rt: Runtime, bot: Bot, event: Event) -> ChatGroup | None:
    """The bound group the command was typed in (None in a private chat)."""
    gid = group_of(bot, event)
    if gid is None:
        return None
    async with rt.db.read() as s:
        return await group_binding(s, platform_of(bot), gid)


incident_cmd = on_command("事件", priority=10, block=True)


@incident_cmd.handle(parameterless=[Guard(REPORT_PERM)])
async def _incident(
    bot: Bot, event: Event, args: Message = CommandArg(), rt: Runtime = RuntimeDep
) -> None:
    parsed = syntax.parse_incident(args.extract_plain_text())
    if parsed is None:
        await reply_template(
            bot, event, "usage/incident", minutes=service.escalate_minutes(rt.settings)
        )
        return
    now = rt.now()
    private = group_of(bot, event) is None
    if isinstance(parsed, syntax.ListOpen):
        if not await RESPONDER_PERM(bot, event):
            await reply_template(bot, event, "common/refused")
            return
        async with rt.db.read() as s:
            open_, total = await service.open_incidents(s, now)
        await reply_template(
            bot, event, "incidents/list", incidents=open_, total=total, private=private
        )
        return
    origin = await _origin(rt, bot, event)
    base = (origin.scope_kind, origin.scope_id) if origin is not None else None
    who = await _who(rt, bot, event)
    try:
        async with rt.db.write() as s:
            reported = await service.report(
                s, who=who, args=parsed, now=now, minutes=service.escalate_minutes(rt.settings),
                base=base,
            )
            text = rt.renderer.render("incidents/alert", r=reported)
            for group in reported.alert_groups:
                await rt.delivery.to_group(
                    group, text, session=s, source=f"incident:{reported.incident.id}", priority=1
                )
    except ScopeError as err:
        await _error(bot, event, err)
        return
    if rt.scheduler is not None:  # else the next start's rebuild arms it
        rt.scheduler.arm(reported.escalate)
    await reply_template(bot, event, "incidents/reported", r=reported, private=private)


Act = Callable[[AsyncSession, places.Standing], Awaitable[Handled]]


async def _push(
    rt: Runtime, s: AsyncSession, handled: Handled, template: str, account: str,
    private: bool, origin: ChatGroup | None,
) -> None:
    """In the command's transaction: the room and note privately to whoever took it
    on (when they answered in a group), the result privately to the closer and the
    reporter (free text is never echoed into a group), a notice to the other groups
    concerned."""
    inc = handled.incident
    source = f"incident:{inc.id}"
    if template == "incidents/acked" and not private and (inc.room or inc.note):
        detail = rt.renderer.render("incidents/detail", i=inc)
        await rt.delivery.to_account(account, detail, session=s, source=source)
    if template == "incidents/closed" and inc.result:
        result = rt.renderer.render(template, i=inc, private=True, notice=True)
        # The closer saw it already in a private reply; one typed in a group did not.
        to = [] if private else [account]
        if inc.reporter_account and inc.reporter_account not in (account, *to):
            to.append(inc.reporter_account)
        for recipient in to:
            await rt.delivery.to_account(recipient, result, session=s, source=source)
    notice = rt.renderer.render(template, i=inc, private=False, notice=True)
    for group in handled.notify_groups:
        if origin is None or group.id != origin.id:
            await rt.delivery.to_group(group, notice, session=s, source=source)


async def _respond(bot: Bot, event: Event, rt: Runtime, template: str, act: Act) -> None:
    account = account_of(bot, event) or ""
    private = group_of(bot, event) is None
    origin = await _origin(rt, bot, event)
    who = await _who(rt, bot, event)
    try:
        async with rt.db.write() as s:
            handled = await act(s, who)
            await _push(rt, s, handled, template, account, private, origin)
    except IncidentError as err:
        await _error(bot, event, err)
        return
    if rt.scheduler is not None:
        rt.scheduler.disarm(handled.cancelled)
    await reply_template(bot, event, template, i=handled.incident, private=private, notice=False)


ack_cmd = on_command("处理", priority=10, block=True)


@ack_cmd.handle(parameterless=[Guard(RESPONDER_PERM)])
async def _ack(
    bot: Bot, event: Event, args: Message = CommandArg(), rt: Runtime = RuntimeDep
) -> None:
    number = syntax.parse_ack(args.extract_plain_text())
    if number is None:
        await reply_template(bot, event, "usage/incident_ack")
        return
    now = rt.now()

    async def act(s: AsyncSession, who: places.Standing) -> Handled:
        return await service.acknowledge(s, who=who, number=number, now=now)

    await _respond(bot, event, rt, "incidents/acked", act)


close_cmd = on_command("办结", priority=10, block=True)


@close_cmd.handle(parameterless=[Guard(RESPONDER_PERM)])
async def _close(
    bot: Bot, event: Event, args: Message = CommandArg(), rt: Runtime = RuntimeDep
) -> None:
    parsed = syntax.parse_close(args.extract_plain_text())
    if parsed is None:
        await reply_template(bot, event, "usage/incident_close")
        return
    now = rt.now()

    async def act(s: AsyncSession, who: places.Standing) -> Handled:
        return await service.close(
            s, who=who, number=parsed.number, result=parsed.result, now=now
        )

    await _respond(bot, event, rt, "incidents/closed", act)
