"""协查函 (协查): ``/协查 <函号> [说明]`` gives the 流调组 24 hours, with reminders
at +12/+20/+23 h and escalation to the 流调组 and staff when overdue;
``/协查 完成 <函号>`` closes it (DESIGN.md §1, §3)."""

from __future__ import annotations

from nonebot import on_command
from nonebot.adapters import Bot, Event, Message
from nonebot.params import CommandArg
from nonebot.plugin import PluginMetadata

from bot.permissions import STAFF_PERM, Guard, role_permission
from bot.platforms import account_of, group_of, platform_of
from bot.reply import reply_template
from bot.runtime import Runtime, RuntimeDep
from plugins._common.commands import CommandSpec
from plugins.assist import jobs, service
from plugins.assist.service import AssistError
from plugins.reminders import targets
from plugins.reminders.push import push
from plugins.roster.service import group_binding
from storage.repo import ADMIN, STAFF

# Staff open 协查函; the 流调组 (and staff) complete them.
ASSIST_PERM = role_permission(ADMIN, STAFF, targets.TRACING_TEAM)

__plugin_meta__ = PluginMetadata(
    name="assist",
    description="Investigation-assist letters: 24 h tasks with reminders and escalation.",
    usage="/协查",
    extra={
        "commands": [CommandSpec("协查", ASSIST_PERM, "assist", "时限与预警")],
        "scheduler": jobs.HOOKS,
    },
)


async def _origin(rt: Runtime, bot: Bot, event: Event):
    gid = group_of(bot, event)
    if gid is None:
        return None
    async with rt.db.read() as s:
        return await group_binding(s, platform_of(bot), gid)


def _without(to: targets.Targets, origin) -> targets.Targets:
    """The chat the command came from gets the reply, not the push as well."""
    if origin is None:
        return to
    return targets.Targets([g for g in to.groups if g.id != origin.id], to.accounts)


assist_cmd = on_command("协查", priority=10, block=True)


@assist_cmd.handle(parameterless=[Guard(ASSIST_PERM)])
async def _assist(
    bot: Bot, event: Event, args: Message = CommandArg(), rt: Runtime = RuntimeDep
) -> None:
    parsed = service.parse_assist(args.extract_plain_text())
    if parsed is None:
        await reply_template(bot, event, "usage/assist")
        return
    account = account_of(bot, event) or ""
    now = rt.now()
    try:
        if isinstance(parsed, service.ListOpen):
            async with rt.db.read() as s:
                tasks = await service.open_tasks(s)
            await reply_template(
                bot, event, "assist/list", tasks=tasks[: service.LIST_LIMIT], total=len(tasks),
                now=now,
            )
            return
        origin = await _origin(rt, bot, event)
        if isinstance(parsed, service.Complete):
            async with rt.db.write() as s:
                done = await service.complete(
                    s, account=account, letter_no=parsed.letter_no, now=now
                )
                to = await targets.team(s, targets.TRACING_TEAM)
                if done.task.escalated_at is not None:  # staff heard it was late
                    to = to.merged(await targets.staff(s))
                text = rt.renderer.render("assist/done", d=done, notice=True)
                await push(
                    rt, s, _without(to, origin), text, source=jobs.source(done.task.id),  # type: ignore[arg-type]
                    fallback_superusers=False,
                )
            if rt.scheduler is not None:
                rt.scheduler.disarm(done.cancelled)
            await reply_template(bot, event, "assist/done", d=done, notice=False)
            return
        if not await STAFF_PERM(bot, event):  # the 流调组 completes, staff assign
            await reply_template(bot, event, "common/refused")
            return
        async with rt.db.write() as s:
            created = await service.create(
                s, actor=account, letter_no=parsed.letter_no, note=parsed.note, now=now
            )
            to = await targets.team(s, targets.TRACING_TEAM)
            text = rt.renderer.render("assist/new", t=created.task)
            await push(rt, s, _without(to, origin), text, source=jobs.source(created.task.id),  # type: ignore[arg-type]
                       fallback_superusers=False)
    except AssistError as err:
        await reply_template(bot, event, "assist/error", code=err.code, **err.context)
        return
    if rt.scheduler is not None:  # else the next start's rebuild arms them
        for item in created.items:
            rt.scheduler.arm(item)
    await reply_template(bot, event, "assist/created", t=created.task, team_groups=len(to.groups),
                         team_accounts=len(to.accounts))
