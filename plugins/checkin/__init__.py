"""Check-ins (排查打卡): screening rounds that leaders report into, with
progress, laggard chasing, escalation and export (DESIGN.md §3)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nonebot import on_command
from nonebot.adapters import Bot, Event, Message
from nonebot.params import CommandArg
from nonebot.permission import Permission
from nonebot.plugin import PluginMetadata

from bot.permissions import LEADER_PERM, STAFF_PERM, Guard
from bot.platforms import account_of, group_of, platform_of
from bot.reply import reply_template
from bot.runtime import Runtime, current_runtime
from plugins._common.commands import CommandSpec
from plugins.checkin import flows, jobs, notify
from plugins.checkin.flows import Outcome, Sender

__plugin_meta__ = PluginMetadata(
    name="checkin",
    description="Screening rounds: open, report, progress, chase laggards, export, close.",
    usage="/排查 /打卡 /进度 /未报 /催报 /导出 /结束",
    extra={
        "commands": [
            CommandSpec("排查", STAFF_PERM, "checkin_open", "排查打卡"),
            CommandSpec("打卡", LEADER_PERM, "checkin_report", "排查打卡"),
            CommandSpec("进度", LEADER_PERM, "checkin_progress", "排查打卡"),
            CommandSpec("未报", STAFF_PERM, "checkin_missing", "排查打卡"),
            CommandSpec("催报", STAFF_PERM, "checkin_chase", "排查打卡"),
            CommandSpec("导出", STAFF_PERM, "checkin_export", "排查打卡"),
            CommandSpec("结束", STAFF_PERM, "checkin_close", "排查打卡"),
        ],
        "scheduler": jobs.HOOKS,
    },
)

Flow = Callable[[Runtime, Sender, str], Awaitable[Outcome]]


def sender_of(bot: Bot, event: Event, rt: Runtime) -> Sender:
    account = account_of(bot, event) or ""
    return Sender(
        account=account,
        platform=platform_of(bot),
        group_id=group_of(bot, event),
        bot_id=bot.self_id,
        superuser=account in rt.settings.superusers,
    )


async def deliver(bot: Bot, event: Event, rt: Runtime, outcome: Outcome) -> None:
    """Private messages, then replies (the sender sees what was understood).

    Pushes to other groups are already queued in the outbox by the flow, in the
    transaction that decided them."""
    replies = outcome.replies
    for account, out in outcome.private:
        try:
            await rt.delivery.to_account(
                account, rt.renderer.render(out.template, **out.context)
            )
        except Exception as err:  # not a friend, bot offline, risk control
            notify.log.warning("private %s failed: %s", out.template, err.__class__.__name__)
            replies = [outcome.private_failed] if outcome.private_failed else replies
            break
    for out in replies:
        await reply_template(bot, event, out.template, out.mentions, **out.context)


def command(name: str, permission: Permission, flow: Flow) -> None:
    matcher = on_command(name, priority=10, block=True)

    # The runtime is looked up directly rather than injected: every extra NoneBot
    # dependency is solved in its own task group, measurable on the /打卡 hot path.
    @matcher.handle(parameterless=[Guard(permission)])
    async def _handle(bot: Bot, event: Event, args: Message = CommandArg()) -> None:
        rt = current_runtime()
        outcome = await flow(rt, sender_of(bot, event, rt), args.extract_plain_text())
        await deliver(bot, event, rt, outcome)


command("排查", STAFF_PERM, flows.open_cmd)
command("打卡", LEADER_PERM, flows.report_cmd)
command("进度", LEADER_PERM, flows.progress_cmd)
command("未报", STAFF_PERM, flows.missing_cmd)
command("催报", STAFF_PERM, flows.chase_cmd)
command("导出", STAFF_PERM, flows.export_cmd)
command("结束", STAFF_PERM, flows.close_cmd)
