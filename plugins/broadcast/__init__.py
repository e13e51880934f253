"""Broadcasts (宣传): preview, confirm, paced delivery through the outbox, reports,
and acknowledgements ("收到") of broadcasts sent with 需回执."""

from __future__ import annotations

from nonebot import on_message
from nonebot.adapters import Bot, Event
from nonebot.rule import Rule

from bot.console import ConsolePart
from bot.kit import Command, plugin_meta
from bot.permissions import STAFF_PERM
from bot.platforms import account_of, group_of, platform_of
from bot.runtime import Runtime, RuntimeDep
from bot.scheduler import SchedulerHooks
from plugins.broadcast import ack, console, flows, service
from storage.models_outbox import OutboxItem


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


__plugin_meta__ = plugin_meta(
    "broadcast", "Broadcasts to resident groups: preview, confirm, paced delivery, reports.",
    Command("广播", STAFF_PERM, "broadcast", flow=flows.broadcast_cmd),
    Command("紧急广播", STAFF_PERM, "urgent_broadcast", flow=flows.urgent_cmd),
    Command("确认", STAFF_PERM, "confirm", flow=flows.confirm_cmd),
    Command("取消", STAFF_PERM, "cancel", flow=flows.cancel_cmd),
    Command("广播情况", STAFF_PERM, "broadcast_status", flow=flows.status_cmd),
    group="宣传", outbox_hooks={"broadcast": on_item_final},
    scheduler=SchedulerHooks(handlers={ack.KIND_CHASE: ack.on_chase}),
    console=ConsolePart(router=console.router, order=30,
                        nav=(("广播", "/console/broadcast", "staff"),
                             ("标语/政策", "/console/publicity", "staff"))),
)


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
