"""What each roster command does, from its argument text to what is said.

Each flow takes the runtime, the sender and the text after the command and
returns an ``Outcome`` (see ``bot.kit``); ``bot.router`` checks the declared
permission first. The one push to other chats (the rebind notice) is queued in
the outbox inside the transaction that moves the binding.
"""

from __future__ import annotations

from datetime import timedelta

from bot.kit import Out, Outcome, Sender, declared_commands, refusal, usage
from bot.permissions import STAFF_PERM
from bot.runtime import Runtime
from ground.grammar import parse_scope, parse_unit, parse_when, suggestion
from messages.mask import scrub
from plugins._common.lookups import origin_base as group_base
from plugins.roster import service
from plugins.roster.service import RosterError
from plugins.roster.syntax import parse_appoint, parse_code, parse_scope_and, parse_two, tokens
from storage.repo import ScopeError, resolve_scope, units_in


def _reply(template: str, **context) -> Outcome:
    return Outcome([Out(template, context)])


# --- /帮助 /我的信息 ---------------------------------------------------------------------------


HELP = "帮助"
FREQUENT_SHOWN = 4


async def help_cmd(rt: Runtime, sender: Sender, text: str) -> Outcome:
    asked = text.strip().lstrip("/／").split(maxsplit=1)
    if asked:
        return _help_for(asked[0])
    groups: dict[str, list[dict]] = {}
    lines: dict[str, dict] = {}
    # Everyone's basics first, then each capability's commands, under their headings.
    for spec in sorted(declared_commands(), key=lambda c: c.group != "基础"):
        if await sender.allowed(spec.permission):
            line = rt.renderer.render(f"usage/{spec.usage}").splitlines()[0]
            lines[spec.name] = {"name": spec.name, "line": line, "daily": spec.daily}
            groups.setdefault(spec.group, []).append(lines[spec.name])
    # A leader (not staff) starts with what a leader does every day; then anyone's
    # own most-used commands; then everything, by heading.
    daily = [] if await sender.allowed(STAFF_PERM) else [c for c in lines.values() if c["daily"]]
    used = await rt.usage.most_used(rt.db, sender.account, rt.now(), limit=8)
    frequent = [lines[n] for n in used if n in lines and n != HELP and lines[n] not in daily]
    return _reply("roster/help", groups=list(groups.items()), daily=daily,
                  frequent=frequent[:FREQUENT_SHOWN])


def _help_for(name: str) -> Outcome:
    """``/帮助 打卡``: that command's whole usage, with its examples."""
    commands = declared_commands()
    for spec in commands:
        if name in (spec.name, *spec.aliases):
            return usage(spec.usage)
    names = [n for spec in commands for n in (spec.name, *spec.aliases)]
    return _reply("common/unknown_command", typed=scrub(name[:12]),
                  guess=suggestion(name, names))


async def info_cmd(rt: Runtime, sender: Sender, text: str) -> Outcome:
    async with rt.db.read() as s:
        info = await service.my_info(s, sender.account, rt.now())
    return _reply("roster/myinfo", info=info, superuser=sender.superuser)


# --- /绑定群 /解绑群 ---------------------------------------------------------------------------


async def bind_group_cmd(rt: Runtime, sender: Sender, text: str) -> Outcome:
    if sender.group_id is None:
        return _reply("common/group_only")
    parsed = parse_scope_and(text)
    if parsed is None:
        return usage("bind_group")
    expr, word = parsed
    try:
        async with rt.db.write() as s:
            scope = await resolve_scope(s, expr)
            group = await service.bind_group(
                s, actor=sender.account, platform=sender.platform,
                group_id=sender.group_id, bot_id=sender.bot_id, scope=scope,
                kind_word=word,
            )
            units = await units_in(s, scope)
    except (RosterError, ScopeError) as err:
        return refusal(err)
    return _reply(
        "roster/bind_group_ok", scope=scope.label,
        kind=service.KIND_LABELS[group.kind], team=group.team, units=len(units),
    )


async def unbind_group_cmd(rt: Runtime, sender: Sender, text: str) -> Outcome:
    if sender.group_id is None:
        return _reply("common/group_only")
    if tokens(text):
        return usage("unbind_group")
    try:
        async with rt.db.write() as s:
            await service.unbind_group(
                s, actor=sender.account, platform=sender.platform, group_id=sender.group_id
            )
    except RosterError as err:
        return refusal(err)
    return _reply("roster/unbind_group_ok")


# --- /任命 /撤销 -------------------------------------------------------------------------------


async def appoint_cmd(rt: Runtime, sender: Sender, text: str) -> Outcome:
    parsed = parse_appoint(text)
    if parsed is None:
        return usage("appoint")
    expires = None
    if parsed.until is not None:
        expires = parse_when(parsed.until, rt.now())
        if expires is None:
            return usage("appoint")
    expr = None
    if parsed.scope is not None:
        expr = parse_scope(parsed.scope)
        if expr is None:
            return usage("appoint")
    base = await group_base(rt, sender)
    try:
        async with rt.db.write() as s:
            scope = await resolve_scope(s, expr, base) if expr is not None else None
            result = await service.appoint(
                s, actor=sender.account, account=parsed.account,
                role=parsed.role, scope=scope, expires_at=expires, now=rt.now(),
            )
    except (RosterError, ScopeError) as err:
        return refusal(err)
    return _reply("roster/appoint_ok", a=result)


async def revoke_cmd(rt: Runtime, sender: Sender, text: str) -> Outcome:
    parsed = parse_two(text)
    if parsed is None:
        return usage("revoke")
    try:
        async with rt.db.write() as s:
            n = await service.revoke(s, actor=sender.account, account=parsed[0], role=parsed[1])
    except RosterError as err:
        return refusal(err)
    return _reply("roster/revoke_ok", account=parsed[0], role=parsed[1], n=n)


# --- /邀请 /绑定 -------------------------------------------------------------------------------


async def invite_cmd(rt: Runtime, sender: Sender, text: str) -> Outcome:
    if sender.group_id is not None:
        # A code shown in a group is anyone's: bystanders have redeemed them.
        return _reply("roster/private_only", command="邀请")
    parsed = parse_two(text)
    if parsed is None:
        return usage("invite")
    target, role = parsed
    unit_ref = parse_unit(target)
    try:
        async with rt.db.write() as s:
            unit = None
            if unit_ref is not None:
                expr = parse_scope(str(unit_ref))
                scope = await resolve_scope(s, expr, None)
                unit = (await units_in(s, scope))[0]
            inviter = await service.inviter_of(
                s, sender.account, rt.now(), rt.settings.superusers
            )
            result = await service.create_invite(
                s, inviter=inviter, role=role, unit=unit,
                name=None if unit else target,
                ttl=timedelta(hours=rt.settings.invite_ttl_hours), now=rt.now(),
                superusers=rt.settings.superusers,
            )
    except (RosterError, ScopeError) as err:
        return refusal(err)
    return _reply("roster/invite_ok", i=result)


async def redeem_cmd(rt: Runtime, sender: Sender, text: str) -> Outcome:
    code = parse_code(text)
    account = sender.account
    if code is None or not account:
        return usage("redeem")
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
        return refusal(failed)
    return _reply("roster/redeem_ok", r=result)


async def _tell_rebound(rt: Runtime, s, account: str, result: service.Redemption) -> None:
    """The account losing a binding, and the superusers, hear of it in the same
    transaction that moves it: nobody is silently replaced."""
    if not result.rebound_from:
        return
    text = rt.renderer.render("roster/rebind_notice", r=result, new_account=account)
    for old in [*result.rebound_from, *sorted(rt.settings.superusers)]:
        await rt.delivery.to_account(old, text, session=s, source="roster:rebind", priority=1)


# --- /绑定推送 /解绑推送 -----------------------------------------------------------------------


async def bind_webhook_cmd(rt: Runtime, sender: Sender, text: str) -> Outcome:
    from bot.webhook import mask_url

    if sender.group_id is not None:
        # The key lets anyone post to the resident group; it is now in this chat.
        return _reply("roster/webhook_in_group")
    parsed = parse_scope_and(text)
    if parsed is None:
        return usage("bind_webhook")
    expr, word = parsed
    try:
        async with rt.db.write() as s:
            scope = await resolve_scope(s, expr)
            await service.bind_webhook(
                s, actor=sender.account, url=word, scope=scope,
                allowed_hosts=rt.settings.webhook_hosts,
            )
    except (RosterError, ScopeError) as err:
        return refusal(err)
    return _reply("roster/bind_webhook_ok", scope=scope.label, url=mask_url(word))


async def unbind_webhook_cmd(rt: Runtime, sender: Sender, text: str) -> Outcome:
    parts = tokens(text)
    if len(parts) != 1:
        return usage("unbind_webhook")
    try:
        async with rt.db.write() as s:
            await service.unbind_webhook(s, actor=sender.account, url=parts[0])
    except RosterError as err:
        return refusal(err)
    return _reply("roster/unbind_group_ok")
