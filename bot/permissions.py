"""Permissions declared from roles held in the database.

`role_permission(...)` builds a NoneBot `Permission`; superusers from settings
always pass. Identity is the stable account id (`qq:10001`), never a group card.
Matchers stay open to everyone and use `Guard(PERM)`, so a refused sender gets a
polite answer instead of silence.
"""

from __future__ import annotations

import weakref

from nonebot.adapters import Bot, Event
from nonebot.matcher import Matcher
from nonebot.params import Depends
from nonebot.permission import Permission

from bot.platforms import SYSTEM_ACCOUNTS, account_of, group_of, platform_of
from bot.runtime import current_runtime
from storage.repo import (
    ADMIN,
    BUILDING_LEADER,
    STAFF,
    UNIT_LEADER,
    VOLUNTEER,
)

# Roles looked up once per incoming event and shared by every permission check
# of it (/帮助 alone checks a dozen). Keyed by the event object's identity and
# dropped when the event is garbage: NoneBot runs checks in separate tasks, so a
# context variable would not be shared between them.
_event_roles: dict[int, tuple[weakref.ref, dict[str, set[str]]]] = {}


def _roles_cache(event: Event) -> dict[str, set[str]]:
    key = id(event)
    entry = _event_roles.get(key)
    if entry is not None and entry[0]() is event:
        return entry[1]

    def _drop(ref: weakref.ref, key: int = key) -> None:
        current = _event_roles.get(key)
        if current is not None and current[0] is ref:
            del _event_roles[key]

    cache: dict[str, set[str]] = {}
    _event_roles[key] = (weakref.ref(event, _drop), cache)
    return cache


def prime_roles(event: Event, account: str, roles: set[str]) -> None:
    """Roles already read (with the group binding, in one session) for this event."""
    _roles_cache(event)[account] = roles


async def roles_for(event: Event, account: str) -> set[str]:
    cache = _roles_cache(event)
    if account not in cache:
        runtime = current_runtime()
        known = await runtime.db.directory.current()
        cache[account] = known.roles(account, runtime.now())
    return cache[account]


async def _holds_role(wanted: frozenset[str], bot: Bot, event: Event) -> bool:
    account = account_of(bot, event)
    if account is None or account in SYSTEM_ACCOUNTS:
        return False
    runtime = current_runtime()
    if account in runtime.settings.superusers:
        return True
    if not wanted:
        return True
    return bool(await roles_for(event, account) & wanted)


# What each role permission declared here wants, so that `holds` decides it in
# place: NoneBot runs a Permission's checkers in task groups, a task per parameter.
_WANTED: dict[Permission, frozenset[str]] = {}


def role_permission(*roles: str) -> Permission:
    wanted = frozenset(roles)

    async def _has_role(bot: Bot, event: Event) -> bool:
        return await _holds_role(wanted, bot, event)

    _has_role.__name__ = "has_role_" + "_".join(sorted(wanted)) if wanted else "anyone"
    permission = Permission(_has_role)
    _WANTED[permission] = wanted
    return permission


async def holds(permission: Permission, bot: Bot, event: Event) -> bool:
    """``await permission(bot, event)``, the same rule without NoneBot's machinery
    for the role permissions built here; any other Permission is simply called."""
    wanted = _WANTED.get(permission)
    if wanted is None:
        return await permission(bot, event)
    return await _holds_role(wanted, bot, event)


async def _is_superuser(bot: Bot, event: Event) -> bool:
    account = account_of(bot, event)
    return account is not None and account in current_runtime().settings.superusers


async def _in_resident_group(bot: Bot, event: Event) -> bool:
    gid = group_of(bot, event)
    if gid is None:
        return False
    group = (await current_runtime().db.directory.current()).binding(platform_of(bot), gid)
    return group is not None and group.kind == "resident"


SUPERUSER = Permission(_is_superuser)
# Anyone in a group bound as a resident group: for the public side of a command
# (``/政策`` lists the notices the group was sent), combined with a role permission.
IN_RESIDENT_GROUP = Permission(_in_resident_group)
ADMIN_PERM = role_permission(ADMIN)
STAFF_PERM = role_permission(ADMIN, STAFF)
LEADER_PERM = role_permission(ADMIN, STAFF, BUILDING_LEADER, UNIT_LEADER)
MEMBER_PERM = role_permission(ADMIN, STAFF, BUILDING_LEADER, UNIT_LEADER, VOLUNTEER)
EVERYONE = role_permission()


def Guard(permission: Permission):
    """Dependency: continue when the sender holds `permission`, else refuse politely."""

    async def _guard(bot: Bot, event: Event, matcher: Matcher) -> None:
        if await permission(bot, event):
            return
        from bot.reply import reply_template

        await reply_template(bot, event, "common/refused")
        await matcher.finish()

    return Depends(_guard)
