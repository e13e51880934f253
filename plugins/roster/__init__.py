"""Roster: who is who, which group is which, and who may do what."""

from __future__ import annotations

from datetime import timedelta

from nonebot import on_command
from nonebot.adapters import Bot, Event, Message
from nonebot.params import CommandArg
from nonebot.plugin import PluginMetadata

from bot.permissions import ADMIN_PERM, EVERYONE, STAFF_PERM, Guard
from bot.platforms import account_of, group_of, platform_of
from bot.reply import reply_template
from bot.runtime import Runtime, RuntimeDep, current_runtime
from plugins._common.commands import CommandSpec, declared_commands
from plugins._common.parse import parse_scope, parse_unit, parse_when
from plugins.roster import service
from plugins.roster.service import RosterError
from plugins.roster.syntax import parse_appoint, parse_code, parse_two, tokens
from storage.repo import ScopeError, group_binding, resolve_scope, units_in

__plugin_meta__ = PluginMetadata(
    name="roster",
    description="Roster: help, own info, group binding, appointments, invites.",
    usage="/帮助 /我的信息 /绑定群 /解绑群 /任命 /撤销 /邀请 /绑定",
    extra={
        "commands": [
            CommandSpec("帮助", EVERYONE, "help", "基础"),
            CommandSpec("我的信息", EVERYONE, "myinfo", "基础"),
            CommandSpec("绑定", EVERYONE, "redeem", "基础"),
            CommandSpec("绑定群", STAFF_PERM, "bind_group", "花名册"),
            CommandSpec("解绑群", STAFF_PERM, "unbind_group", "花名册"),
            CommandSpec("绑定推送", STAFF_PERM, "bind_webhook", "花名册"),
            CommandSpec("解绑推送", STAFF_PERM, "unbind_webhook", "花名册"),
            CommandSpec("邀请", STAFF_PERM, "invite", "花名册"),
            CommandSpec("任命", ADMIN_PERM, "appoint", "花名册"),
            CommandSpec("撤销", ADMIN_PERM, "revoke", "花名册"),
        ]
    },
)


async def usage(bot: Bot, event: Event, name: str) -> None:
    await reply_template(bot, event, f"usage/{name}")


async def error(bot: Bot, event: Event, err: RosterError | ScopeError) -> None:
    if isinstance(err, ScopeError):
        await reply_template(bot, event, "common/scope_error", code=err.code, value=err.value)
    else:
        await reply_template(bot, event, "roster/error", code=err.code, **err.context)


async def group_base(rt: Runtime, bot: Bot, event: Event) -> tuple[str, int] | None:
    """The scope of the group the command was typed in, for relative names."""
    gid = group_of(bot, event)
    if gid is None:
        return None
    async with rt.db.read() as s:
        g = await group_binding(s, platform_of(bot), gid)
    return (g.scope_kind, g.scope_id) if g else None


help_cmd = on_command("帮助", aliases={"help", "菜单"}, priority=10, block=True)


@help_cmd.handle()
async def _help(bot: Bot, event: Event) -> None:
    rt = current_runtime()
    lines = [
        {"name": spec.name, "line": rt.renderer.render(f"usage/{spec.usage}").splitlines()[0]}
        # Everyone's basics first, then each capability's commands.
        for spec in sorted(declared_commands(), key=lambda c: c.group != "基础")
        if await spec.permission(bot, event)
    ]
    await reply_template(bot, event, "roster/help", commands=lines)


info_cmd = on_command("我的信息", priority=10, block=True)


@info_cmd.handle()
async def _info(bot: Bot, event: Event, rt: Runtime = RuntimeDep) -> None:
    account = account_of(bot, event) or ""
    async with rt.db.read() as s:
        info = await service.my_info(s, account, rt.now())
    await reply_template(
        bot, event, "roster/myinfo", info=info,
        superuser=account in rt.settings.superusers,
    )


bind_group_cmd = on_command("绑定群", priority=10, block=True)


@bind_group_cmd.handle(parameterless=[Guard(STAFF_PERM)])
async def _bind_group(
    bot: Bot, event: Event, args: Message = CommandArg(), rt: Runtime = RuntimeDep
) -> None:
    gid = group_of(bot, event)
    if gid is None:
        await reply_template(bot, event, "common/group_only")
        return
    parsed = parse_two(args.extract_plain_text())
    expr = parse_scope(parsed[0]) if parsed else None
    if parsed is None or expr is None:
        await usage(bot, event, "bind_group")
        return
    try:
        async with rt.db.write() as s:
            scope = await resolve_scope(s, expr)
            group = await service.bind_group(
                s, actor=account_of(bot, event) or "", platform=platform_of(bot),
                group_id=gid, bot_id=bot.self_id, scope=scope, kind_word=parsed[1],
            )
            units = await units_in(s, scope)
    except (RosterError, ScopeError) as err:
        await error(bot, event, err)
        return
    await reply_template(
        bot, event, "roster/bind_group_ok", scope=scope.label,
        kind=service.KIND_LABELS[group.kind], team=group.team, units=len(units),
    )


unbind_group_cmd = on_command("解绑群", priority=10, block=True)


@unbind_group_cmd.handle(parameterless=[Guard(STAFF_PERM)])
async def _unbind_group(
    bot: Bot, event: Event, args: Message = CommandArg(), rt: Runtime = RuntimeDep
) -> None:
    gid = group_of(bot, event)
    if gid is None:
        await reply_template(bot, event, "common/group_only")
        return
    if tokens(args.extract_plain_text()):
        await usage(bot, event, "unbind_group")
        return
    try:
        async with rt.db.write() as s:
            await service.unbind_group(
                s, actor=account_of(bot, event) or "", platform=platform_of(bot), group_id=gid
            )
    except RosterError as err:
        await error(bot, event, err)
        return
    await reply_template(bot, event, "roster/unbind_group_ok")


appoint_cmd = on_command("任命", priority=10, block=True)


@appoint_cmd.handle(parameterless=[Guard(ADMIN_PERM)])
async def _appoint(
    bot: Bot, event: Event, args: Message = CommandArg(), rt: Runtime = RuntimeDep
) -> None:
    parsed = parse_appoint(args.extract_plain_text())
    if parsed is None:
        await usage(bot, event, "appoint")
        return
    expires = None
    if parsed.until is not None:
        expires = parse_when(parsed.until, rt.now())
        if expires is None:
            await usage(bot, event, "appoint")
            return
    expr = None
    if parsed.scope is not None:
        expr = parse_scope(parsed.scope)
        if expr is None:
            await usage(bot, event, "appoint")
            return
    base = await group_base(rt, bot, event)
    try:
        async with rt.db.write() as s:
            scope = await resolve_scope(s, expr, base) if expr is not None else None
            result = await service.appoint(
                s, actor=account_of(bot, event) or "", account=parsed.account,
                role=parsed.role, scope=scope, expires_at=expires, now=rt.now(),
            )
    except (RosterError, ScopeError) as err:
        await error(bot, event, err)
        return
    await reply_template(bot, event, "roster/appoint_ok", a=result)


revoke_cmd = on_command("撤销", priority=10, block=True)


@revoke_cmd.handle(parameterless=[Guard(ADMIN_PERM)])
async def _revoke(
    bot: Bot, event: Event, args: Message = CommandArg(), rt: Runtime = RuntimeDep
) -> None:
    parsed = parse_two(args.extract_plain_text())
    if parsed is None:
        await usage(bot, event, "revoke")
        return
    try:
        async with rt.db.write() as s:
            n = await service.revoke(
                s, actor=account_of(bot, event) or "", account=parsed[0], role=parsed[1]
            )
    except RosterError as err:
        await error(bot, event, err)
        return
    await reply_template(bot, event, "roster/revoke_ok", account=parsed[0], role=parsed[1], n=n)


invite_cmd = on_command("邀请", priority=10, block=True)


@invite_cmd.handle(parameterless=[Guard(STAFF_PERM)])
async def _invite(
    bot: Bot, event: Event, args: Message = CommandArg(), rt: Runtime = RuntimeDep
) -> None:
    if group_of(bot, event) is not None:
        # A code shown in a group is anyone's: bystanders have redeemed them.
        await reply_template(bot, event, "roster/private_only", command="邀请")
        return
    parsed = parse_two(args.extract_plain_text())
    if parsed is None:
        await usage(bot, event, "invite")
        return
    target, role = parsed
    unit_ref = parse_unit(target)
    account = account_of(bot, event) or ""
    try:
        async with rt.db.write() as s:
            unit = None
            if unit_ref is not None:
                expr = parse_scope(str(unit_ref))
                scope = await resolve_scope(s, expr, None)
                unit = (await units_in(s, scope))[0]
            inviter = await service.inviter_of(s, account, rt.now(), rt.settings.superusers)
            result = await service.create_invite(
                s, inviter=inviter, role=role, unit=unit,
                name=None if unit else target,
                ttl=timedelta(hours=rt.settings.invite_ttl_hours), now=rt.now(),
                superusers=rt.settings.superusers,
            )
    except (RosterError, ScopeError) as err:
        await error(bot, event, err)
        return
    await reply_template(bot, event, "roster/invite_ok", i=result)


redeem_cmd = on_command("绑定", priority=10, block=True)


@redeem_cmd.handle()
async def _redeem(
    bot: Bot, event: Event, args: Message = CommandArg(), rt: Runtime = RuntimeDep
) -> None:
    code = parse_code(args.extract_plain_text())
    account = account_of(bot, event)
    if code is None or account is None:
        await usage(bot, event, "redeem")
        return
    now = rt.now()
    failed: RosterError | None = None
    async with rt.db.write() as s:
        if await service.redeem_locked(s, account, now):
            failed = RosterError("redeem_locked", minutes=service.REDEEM_WINDOW_MINUTES)
            await service.record_redeem_failure(s, account, failed.code, now)
        else:
            try:
                result = await service.redeem(s, account=account, code=code, now=now)
            except RosterError as err:
                # Recorded (and so counted) in this transaction; redeem writes nothing
                # before its checks pass.
                await service.record_redeem_failure(s, account, err.code, now)
                failed = err
            else:
                await _tell_rebound(rt, s, account, result)
    if failed is not None:
        await error(bot, event, failed)
        return
    await reply_template(bot, event, "roster/redeem_ok", r=result)


async def _tell_rebound(rt: Runtime, s, account: str, result: service.Redemption) -> None:
    """The account losing a binding, and the superusers, hear of it in the same
    transaction that moves it: nobody is silently replaced."""
    if not result.rebound_from:
        return
    text = rt.renderer.render("roster/rebind_notice", r=result, new_account=account)
    for old in [*result.rebound_from, *sorted(rt.settings.superusers)]:
        await rt.delivery.to_account(old, text, session=s, source="roster:rebind", priority=1)


bind_webhook_cmd = on_command("绑定推送", priority=10, block=True)


@bind_webhook_cmd.handle(parameterless=[Guard(STAFF_PERM)])
async def _bind_webhook(
    bot: Bot, event: Event, args: Message = CommandArg(), rt: Runtime = RuntimeDep
) -> None:
    from bot.webhook import mask_url

    if group_of(bot, event) is not None:
        # The key lets anyone post to the resident group; it is now in this chat.
        await reply_template(bot, event, "roster/webhook_in_group")
        return
    parsed = parse_two(args.extract_plain_text())
    expr = parse_scope(parsed[0]) if parsed else None
    if parsed is None or expr is None:
        await usage(bot, event, "bind_webhook")
        return
    try:
        async with rt.db.write() as s:
            scope = await resolve_scope(s, expr)
            await service.bind_webhook(
                s, actor=account_of(bot, event) or "", url=parsed[1], scope=scope,
                allowed_hosts=rt.settings.webhook_hosts,
            )
    except (RosterError, ScopeError) as err:
        await error(bot, event, err)
        return
    await reply_template(bot, event, "roster/bind_webhook_ok", scope=scope.label,
                         url=mask_url(parsed[1]))


unbind_webhook_cmd = on_command("解绑推送", priority=10, block=True)


@unbind_webhook_cmd.handle(parameterless=[Guard(STAFF_PERM)])
async def _unbind_webhook(
    bot: Bot, event: Event, args: Message = CommandArg(), rt: Runtime = RuntimeDep
) -> None:
    parts = tokens(args.extract_plain_text())
    if len(parts) != 1:
        await usage(bot, event, "unbind_webhook")
        return
    try:
        async with rt.db.write() as s:
            await service.unbind_webhook(s, actor=account_of(bot, event) or "", url=parts[0])
    except RosterError as err:
        await error(bot, event, err)
        return
    await reply_template(bot, event, "roster/unbind_group_ok")
