"""Broadcasts (宣传): preview, confirm, paced delivery through the outbox, reports,
and acknowledgements ("收到") of broadcasts sent with 需回执."""

from __future__ import annotations

from datetime import timedelta

from nonebot import on_command, on_message
from nonebot.adapters import Bot, Event, Message
from nonebot.params import CommandArg
from nonebot.plugin import PluginMetadata
from nonebot.rule import Rule

from bot.permissions import STAFF_PERM, Guard
from bot.platforms import account_of, group_of, platform_of
from bot.reply import reply_template
from bot.runtime import Runtime, RuntimeDep
from bot.scheduler import SchedulerHooks, cancel_items
from plugins._common.commands import CommandSpec
from plugins._common.parse import parse_scope
from plugins.broadcast import ack, service
from plugins.broadcast.service import BroadcastError
from plugins.roster import group_base
from storage.models_outbox import OutboxItem
from storage.repo import ALL, ScopeError, resolve_scope


async def on_item_final(rt: Runtime, item: OutboxItem) -> None:
    """When the last delivery of a broadcast is settled, report to its sender once."""
    number = int(item.source.split(":", 1)[1])
    async with rt.db.read() as s:
        if await service.has_unsettled(s, item.source):  # cheap check on every delivery
            return
    async with rt.db.write() as s:
        report = await service.delivery_report(s, number)
        if not report.done or not await service.claim_report(s, number, rt.now()):
            return
        text = rt.renderer.render("broadcast/report", r=report, show_list=False)
        await rt.delivery.to_account(
            report.broadcast.created_by, text, session=s, source=f"report:{number}",
            priority=service.REPORT_PRIORITY,
        )


__plugin_meta__ = PluginMetadata(
    name="broadcast",
    description="Broadcasts to resident groups: preview, confirm, paced delivery, reports.",
    usage="/广播 /紧急广播 /确认 /取消 /广播情况",
    extra={
        "commands": [
            CommandSpec("广播", STAFF_PERM, "broadcast", "宣传"),
            CommandSpec("紧急广播", STAFF_PERM, "urgent_broadcast", "宣传"),
            CommandSpec("确认", STAFF_PERM, "confirm", "宣传"),
            CommandSpec("取消", STAFF_PERM, "cancel", "宣传"),
            CommandSpec("广播情况", STAFF_PERM, "broadcast_status", "宣传"),
        ],
        "outbox_hooks": {"broadcast": on_item_final},
        "scheduler": SchedulerHooks(handlers={ack.KIND_CHASE: ack.on_chase}),
    },
)


async def _error(bot: Bot, event: Event, err: BroadcastError | ScopeError) -> None:
    if isinstance(err, ScopeError):
        await reply_template(bot, event, "common/scope_error", code=err.code, value=err.value)
    else:
        await reply_template(bot, event, "broadcast/error", code=err.code, **err.context)


async def _preview(bot: Bot, event: Event, rt: Runtime, raw: str, urgent: bool) -> None:
    usage = "urgent_broadcast" if urgent else "broadcast"
    parsed = service.parse_broadcast(raw)
    if parsed is None:
        await reply_template(bot, event, f"usage/{usage}")
        return
    expr = None
    if parsed.scope is not None:
        expr = parse_scope(parsed.scope)
        if expr is None:
            await reply_template(bot, event, f"usage/{usage}")
            return
    base = await group_base(rt, bot, event)
    try:
        async with rt.db.write() as s:
            scope = await resolve_scope(s, expr, base) if expr is not None else ALL
            preview = await service.create_preview(
                s, actor=account_of(bot, event) or "", scope=scope, text=parsed.text,
                urgent=urgent, ack=parsed.ack, now=rt.now(), quiet=rt.settings.quiet_hours,
                duplicate_window=timedelta(seconds=rt.settings.duplicate_window_s),
                pacing=rt.settings.pacing_table(),
            )
    except (BroadcastError, ScopeError) as err:
        await _error(bot, event, err)
        return
    await reply_template(bot, event, "broadcast/preview", p=preview)


broadcast_cmd = on_command("广播", priority=10, block=True)


@broadcast_cmd.handle(parameterless=[Guard(STAFF_PERM)])
async def _broadcast(
    bot: Bot, event: Event, args: Message = CommandArg(), rt: Runtime = RuntimeDep
) -> None:
    await _preview(bot, event, rt, args.extract_plain_text(), urgent=False)


urgent_cmd = on_command("紧急广播", priority=10, block=True)


@urgent_cmd.handle(parameterless=[Guard(STAFF_PERM)])
async def _urgent(
    bot: Bot, event: Event, args: Message = CommandArg(), rt: Runtime = RuntimeDep
) -> None:
    await _preview(bot, event, rt, args.extract_plain_text(), urgent=True)


confirm_cmd = on_command("确认", priority=10, block=True)


@confirm_cmd.handle(parameterless=[Guard(STAFF_PERM)])
async def _confirm(
    bot: Bot, event: Event, args: Message = CommandArg(), rt: Runtime = RuntimeDep
) -> None:
    number = service.parse_number(args.extract_plain_text())
    if number is None or rt.outbox is None:
        await reply_template(bot, event, "usage/confirm")
        return
    account = account_of(bot, event) or ""
    try:
        async with rt.db.write() as s:
            bc, n = await service.confirm(
                s, rt.delivery, actor=account, number=number, now=rt.now(),
                quiet=rt.settings.quiet_hours, superuser=account in rt.settings.superusers,
            )
            chase = await ack.schedule_chase(s, bc, rt.now(), rt.settings.ack_chase_minutes)
    except BroadcastError as err:
        await _error(bot, event, err)
        return
    if chase is not None and rt.scheduler is not None:  # else the next start arms it
        rt.scheduler.arm(chase)
    await reply_template(bot, event, "broadcast/started", bc=bc, n=n)


cancel_cmd = on_command("取消", priority=10, block=True)


@cancel_cmd.handle(parameterless=[Guard(STAFF_PERM)])
async def _cancel(
    bot: Bot, event: Event, args: Message = CommandArg(), rt: Runtime = RuntimeDep
) -> None:
    number = service.parse_number(args.extract_plain_text())
    if number is None or rt.outbox is None:
        await reply_template(bot, event, "usage/cancel")
        return
    account = account_of(bot, event) or ""
    try:
        async with rt.db.write() as s:
            bc, stopped = await service.cancel(
                s, rt.outbox, actor=account, number=number, now=rt.now(),
                superuser=account in rt.settings.superusers,
            )
            dropped = await cancel_items(s, [ack.KIND_CHASE], number)
    except BroadcastError as err:
        await _error(bot, event, err)
        return
    if rt.scheduler is not None:
        rt.scheduler.disarm(dropped)
    await reply_template(bot, event, "broadcast/cancelled", bc=bc, stopped=stopped)


status_cmd = on_command("广播情况", priority=10, block=True)


@status_cmd.handle(parameterless=[Guard(STAFF_PERM)])
async def _status(
    bot: Bot, event: Event, args: Message = CommandArg(), rt: Runtime = RuntimeDep
) -> None:
    number = service.parse_number(args.extract_plain_text())
    if number is None:
        await reply_template(bot, event, "usage/broadcast_status")
        return
    try:
        async with rt.db.read() as s:
            report = await service.delivery_report(s, number)
    except BroadcastError as err:
        await _error(bot, event, err)
        return
    await reply_template(bot, event, "broadcast/report", r=report, show_list=True)


async def _is_ack(bot: Bot, event: Event) -> bool:
    return (
        event.get_type() == "message"
        and group_of(bot, event) is not None
        and ack.is_ack_text(event.get_plaintext())
    )


# Low priority and not blocking: a plain "收到" must never shadow a command.
ack_matcher = on_message(rule=Rule(_is_ack), priority=90, block=False)


@ack_matcher.handle()
async def _ack(bot: Bot, event: Event, rt: Runtime = RuntimeDep) -> None:
    """Recorded silently: a reply to every "收到" would flood the group."""
    gid = group_of(bot, event)
    if gid is None:
        return
    platform, now = platform_of(bot), rt.now()
    # Most "收到" answer a person, not a broadcast: look before taking the write lock.
    async with rt.db.read() as s:
        if await ack.awaiting_ack(s, platform=platform, group_id=gid, now=now) is None:
            return
    async with rt.db.write() as s:
        await ack.record_ack(
            s, platform=platform, group_id=gid, account=account_of(bot, event) or "", now=now
        )
