"""Policy notes (政策): versioned publication to work and resident groups, staff
study acknowledgements, reminders and the study status for the 综合协调组."""

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
from plugins.policy import jobs, notify, service
from plugins.policy.service import PolicyArgs, PolicyError
from plugins.roster.service import group_binding

__plugin_meta__ = PluginMetadata(
    name="policy",
    description="Versioned policy notes: publish, study acknowledgements, study status, reminders.",
    usage="/政策 /已学习 /学习情况",
    extra={
        "commands": [
            CommandSpec("政策", LEADER_PERM, "policy", "宣传"),
            CommandSpec("已学习", STAFF_PERM, "studied", "宣传"),
            CommandSpec("学习情况", STAFF_PERM, "study_status", "宣传"),
        ],
        "scheduler": jobs.HOOKS,
    },
)


async def _error(bot: Bot, event: Event, err: PolicyError) -> None:
    await reply_template(bot, event, "policy/error", code=err.code, **err.context)


async def _in_resident_group(rt: Runtime, bot: Bot, event: Event) -> bool:
    """Full texts and staff names never go to a resident group (DESIGN.md §4)."""
    gid = group_of(bot, event)
    if gid is None:
        return False
    async with rt.db.read() as s:
        group = await group_binding(s, platform_of(bot), gid)
    return group is not None and group.kind == "resident"


async def _publish(bot: Bot, event: Event, rt: Runtime, args: PolicyArgs) -> None:
    if not await STAFF_PERM(bot, event):  # leaders may read, only staff publish
        await reply_template(bot, event, "common/refused")
        return
    async with rt.db.write() as s:
        pub = await service.publish(
            s, actor=account_of(bot, event) or "", title=args.title, body=args.body,
            now=rt.now(), remind_hours=rt.settings.policy_remind_hours,
            quiet=rt.settings.quiet_hours,
        )
        await notify.push_published(rt, s, pub)
    if rt.scheduler is not None:  # else the next start's rebuild arms it
        rt.scheduler.arm(pub.remind)
    await reply_template(bot, event, "policy/published", pub=pub)


policy_cmd = on_command("政策", priority=10, block=True)


@policy_cmd.handle(parameterless=[Guard(LEADER_PERM)])
async def _policy(
    bot: Bot, event: Event, args: Message = CommandArg(), rt: Runtime = RuntimeDep
) -> None:
    parsed = service.parse_args(args.extract_plain_text())
    if parsed is None:
        await reply_template(bot, event, "usage/policy")
        return
    try:
        if parsed.action == "publish":
            await _publish(bot, event, rt, parsed)
            return
        if await _in_resident_group(rt, bot, event):
            raise PolicyError("resident_group")
        async with rt.db.read() as s:
            if parsed.action == "list":
                policies = await service.latest_policies(s)
                await reply_template(bot, event, "policy/list", policies=policies)
                return
            policy = await service.get_policy(s, parsed.number)
            newer = await service.newer_version(s, policy)
        await reply_template(bot, event, "policy/show", p=policy, newer=newer)
    except PolicyError as err:
        await _error(bot, event, err)


studied_cmd = on_command("已学习", priority=10, block=True)


@studied_cmd.handle(parameterless=[Guard(STAFF_PERM)])
async def _studied(
    bot: Bot, event: Event, args: Message = CommandArg(), rt: Runtime = RuntimeDep
) -> None:
    number = service.parse_number(args.extract_plain_text())
    if number is None:
        await reply_template(bot, event, "usage/studied")
        return
    try:
        async with rt.db.write() as s:
            done = await service.mark_studied(
                s, account=account_of(bot, event) or "", number=number, now=rt.now()
            )
    except PolicyError as err:
        await _error(bot, event, err)
        return
    await reply_template(bot, event, "policy/studied", d=done)


status_cmd = on_command("学习情况", priority=10, block=True)


@status_cmd.handle(parameterless=[Guard(STAFF_PERM)])
async def _status(
    bot: Bot, event: Event, args: Message = CommandArg(), rt: Runtime = RuntimeDep
) -> None:
    number = service.parse_number(args.extract_plain_text())
    if number is None:
        await reply_template(bot, event, "usage/study_status")
        return
    try:
        if await _in_resident_group(rt, bot, event):
            raise PolicyError("resident_group")
        async with rt.db.read() as s:
            status = await service.study_status(s, number, rt.now())
    except PolicyError as err:
        await _error(bot, event, err)
        return
    await reply_template(bot, event, "policy/status", st=status, reminder=False)
