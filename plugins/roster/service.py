"""Roster logic: groups, grants, invites. Plain async functions over a session.

Each function either changes the database and returns what it did, or raises
`RosterError` with a code (a template name under `roster/err_`) before writing.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.kit import CommandError
from ground.timeutil import as_utc
from plugins._common.rows import first_where
from storage.models import (
    Account,
    AuditLog,
    Building,
    ChatGroup,
    Invite,
    Person,
    RoleGrant,
    TeamMember,
    Unit,
)
from storage.places import grant_covers_unit
from storage.repo import (
    ADMIN,
    BASE_ROLES,
    BUILDING_LEADER,
    STAFF,
    UNIT_LEADER,
    VOLUNTEER,
    Scope,
    accounts_of,
    active_grants,
    audit,
    ensure_person,
    group_binding,
    is_team,
    person_of,
    scope_label,
    teams_of,
    unit_label,
    valid_account,
)

GROUP_KINDS = {"工作群": "work", "居民群": "resident"}
KIND_LABELS = {"work": "工作群", "resident": "居民群", "team": "工作组群"}
# Unambiguous characters only: a code is read off a phone and typed again.
_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 6


class RosterError(CommandError):
    template = "roster/error"


# --- groups -----------------------------------------------------------------


async def bind_group(
    session: AsyncSession,
    *,
    actor: str,
    platform: str,
    group_id: str,
    bot_id: str,
    scope: Scope,
    kind_word: str,
) -> ChatGroup:
    if kind_word in GROUP_KINDS:
        kind, team = GROUP_KINDS[kind_word], None
    elif is_team(kind_word):
        kind, team = "team", kind_word
    else:
        raise RosterError("bad_group_kind", value=kind_word)
    single = scope.single
    if single is None:
        raise RosterError("scope_not_single", scope=scope.label)
    existing = await group_binding(session, platform, group_id)
    group = existing or ChatGroup(platform=platform, group_id=group_id, kind=kind)
    group.kind, group.team = kind, team
    group.scope_kind, group.scope_id = single
    group.bot_id, group.bound_by = bot_id, actor
    session.add(group)
    await audit(
        session, actor, "bind_group", f"{platform}:{group_id} {kind}/{team or ''} {scope.label}"
    )
    await session.flush()
    return group


async def unbind_group(
    session: AsyncSession, *, actor: str, platform: str, group_id: str
) -> ChatGroup:
    group = await group_binding(session, platform, group_id)
    if group is None:
        raise RosterError("group_not_bound")
    await session.delete(group)
    await audit(session, actor, "unbind_group", f"{platform}:{group_id}")
    return group


async def bind_webhook(
    session: AsyncSession, *, actor: str, url: str, scope: Scope, allowed_hosts: set[str]
) -> ChatGroup:
    """A resident group reached through a WeCom robot webhook instead of a bot."""
    from bot.webhook import mask_url, valid_webhook

    if not valid_webhook(url, allowed_hosts):
        raise RosterError("bad_webhook")
    single = scope.single
    if single is None:
        raise RosterError("scope_not_single", scope=scope.label)
    gid = "wh-" + hashlib.sha256(url.encode()).hexdigest()[:16]
    group = await group_binding(session, "webhook", gid) or ChatGroup(
        platform="webhook", group_id=gid, kind="resident"
    )
    group.webhook_url, group.kind, group.team = url, "resident", None
    group.scope_kind, group.scope_id = single
    group.bound_by = actor
    session.add(group)
    await audit(session, actor, "bind_webhook", f"{mask_url(url)} {scope.label}")
    await session.flush()
    return group


async def unbind_webhook(session: AsyncSession, *, actor: str, url: str) -> ChatGroup:
    from bot.webhook import mask_url

    gid = "wh-" + hashlib.sha256(url.encode()).hexdigest()[:16]
    group = await group_binding(session, "webhook", gid)
    if group is None:
        raise RosterError("group_not_bound")
    await session.delete(group)
    await audit(session, actor, "unbind_webhook", mask_url(url))
    return group


# --- grants -----------------------------------------------------------------


def _check_role_scope(role: str, scope: Scope | None) -> tuple[str, int]:
    if role not in BASE_ROLES and not is_team(role):
        raise RosterError("bad_role", value=role)
    if role == BUILDING_LEADER:
        if scope is None or scope.kind != "building":
            raise RosterError("role_needs_building", role=role)
    elif role == UNIT_LEADER:
        if scope is None or scope.kind != "unit":
            raise RosterError("role_needs_unit", role=role)
    if scope is None:
        return ("all", 0)
    single = scope.single
    if single is None:
        raise RosterError("scope_not_single", scope=scope.label)
    return single


@dataclass
class Appointment:
    account: str
    person_name: str
    role: str
    scope_label: str
    expires_at: datetime | None
    team: bool = False


async def _join_team(session: AsyncSession, person_id: int | None, team: str) -> None:
    """Make the person a member of the working group (a no-op if they are one)."""
    if await first_where(
        session, TeamMember, TeamMember.person_id == person_id, TeamMember.team == team
    ) is None:
        session.add(TeamMember(person_id=person_id, team=team))


async def _grant(
    session: AsyncSession, person_id: int | None, role: str, kind: str, sid: int | None
) -> RoleGrant | None:
    """The person's grant of ``role`` over exactly this scope, if any."""
    return await first_where(
        session, RoleGrant,
        RoleGrant.person_id == person_id,
        RoleGrant.role == role,
        RoleGrant.scope_kind == kind,
        RoleGrant.scope_id == sid,
    )


async def appoint(
    session: AsyncSession,
    *,
    actor: str,
    account: str,
    role: str,
    scope: Scope | None,
    expires_at: datetime | None,
    now: datetime,
) -> Appointment:
    if not valid_account(account):
        raise RosterError("bad_account", value=account)
    kind, sid = _check_role_scope(role, scope)
    if expires_at is not None and expires_at <= now:
        raise RosterError("expiry_past")
    person = await ensure_person(session, account)
    label = await scope_label(session, kind, sid)
    if role not in BASE_ROLES:  # a working group
        await _join_team(session, person.id, role)
        await audit(session, actor, "appoint", f"{account} {role}")
        return Appointment(account, person.name, role, "", None, team=True)
    grant = await _grant(session, person.id, role, kind, sid)
    grant = grant or RoleGrant(person_id=person.id, role=role, scope_kind=kind, scope_id=sid)
    grant.expires_at, grant.granted_by = expires_at, actor
    session.add(grant)
    until = f" until {expires_at.isoformat()}" if expires_at else ""
    await audit(session, actor, "appoint", f"{account} {role} {label}{until}")
    return Appointment(account, person.name, role, label, expires_at)


async def revoke(session: AsyncSession, *, actor: str, account: str, role: str) -> int:
    if not valid_account(account):
        raise RosterError("bad_account", value=account)
    if role not in BASE_ROLES and not is_team(role):
        raise RosterError("bad_role", value=role)
    person = await person_of(session, account)
    if person is None:
        raise RosterError("unknown_account", value=account)
    if role in BASE_ROLES:
        rows = (
            await session.exec(
                select(RoleGrant).where(RoleGrant.person_id == person.id, RoleGrant.role == role)
            )
        ).all()
    else:
        rows = (
            await session.exec(
                select(TeamMember).where(TeamMember.person_id == person.id, TeamMember.team == role)
            )
        ).all()
    if not rows:
        raise RosterError("no_such_grant", value=account, role=role)
    for row in rows:
        await session.delete(row)
    await audit(session, actor, "revoke", f"{account} {role} x{len(rows)}")
    return len(rows)


# --- invites ----------------------------------------------------------------


def new_code() -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(CODE_LENGTH))


@dataclass
class InviteResult:
    code: str
    person_name: str
    role: str
    scope_label: str
    expires_at: datetime


@dataclass(frozen=True)
class Inviter:
    """Who is inviting, with what power: invites must never grant more than that."""

    account: str
    admin: bool  # 管理员 or a superuser
    staff_grants: tuple[RoleGrant, ...] = ()  # the 工作人员 scopes of a non-admin inviter


async def inviter_of(
    session: AsyncSession, account: str, now: datetime, superusers: frozenset[str] | set[str]
) -> Inviter:
    if account in superusers:
        return Inviter(account, admin=True)
    person = await person_of(session, account)
    grants = await active_grants(session, person.id, now) if person is not None else []
    if any(g.role == ADMIN for g in grants):
        return Inviter(account, admin=True)
    return Inviter(account, admin=False, staff_grants=tuple(g for g in grants if g.role == STAFF))


async def _check_invite(
    session: AsyncSession, inviter: Inviter, role: str, person: Person | None,
    unit: tuple[Building, Unit] | None, superusers: frozenset[str] | set[str],
) -> None:
    """Only 管理员 invite 管理员/工作人员/工作组 members or re-bind someone who already has
    an account; staff invite leaders and volunteers inside their own scope; nobody
    re-binds a superuser."""
    accounts = await accounts_of(session, person.id) if person and person.id else []
    if any(a in superusers for a in accounts):
        raise RosterError("invite_superuser")
    if inviter.admin:
        return
    if role in (ADMIN, STAFF) or is_team(role):
        raise RosterError("invite_needs_admin", role=role)
    if accounts:
        raise RosterError("invite_rebind_needs_admin", person=person.name if person else "")
    if unit is not None:
        if not any([await grant_covers_unit(session, g, unit[1]) for g in inviter.staff_grants]):
            raise RosterError("invite_out_of_scope", unit=unit_label(*unit))
    elif not inviter.staff_grants:
        raise RosterError("invite_out_of_scope", unit="")


async def create_invite(
    session: AsyncSession,
    *,
    inviter: Inviter,
    role: str,
    unit: tuple[Building, Unit] | None,
    name: str | None,
    ttl: timedelta,
    now: datetime,
    superusers: frozenset[str] | set[str] = frozenset(),
) -> InviteResult:
    """Invite the leader of `unit` (by its roster entry) or the person called `name`."""
    actor = inviter.account
    if role not in BASE_ROLES and not is_team(role):
        raise RosterError("bad_role", value=role)
    scope_kind, scope_id = "all", 0
    person: Person | None = None
    if unit is not None:
        building, u = unit
        if role == UNIT_LEADER:
            scope_kind, scope_id = "unit", u.id
        elif role == BUILDING_LEADER:
            scope_kind, scope_id = "building", building.id
        elif role in (ADMIN, STAFF):
            raise RosterError("invite_unit_role", role=role)
        else:
            scope_kind, scope_id = "unit", u.id
        # Reuse the roster's leader entry so history stays with one person.
        if role in (UNIT_LEADER, BUILDING_LEADER):
            existing = await first_where(
                session, RoleGrant,
                RoleGrant.role == role,
                RoleGrant.scope_kind == scope_kind,
                RoleGrant.scope_id == scope_id,
            )
            if existing is not None:
                person = await session.get(Person, existing.person_id)
        if person is None:
            person = Person(name=f"{unit_label(building, u)}{role}")
    else:
        assert name is not None
        if role in (UNIT_LEADER, BUILDING_LEADER):
            raise RosterError("invite_needs_unit", role=role)
        matches = (await session.exec(select(Person).where(Person.name == name))).all()
        if len(matches) > 1:
            raise RosterError("ambiguous_name", value=name, count=len(matches))
        person = matches[0] if matches else Person(name=name)
        if role == VOLUNTEER and not inviter.admin:
            # A volunteer invited by a staff member helps inside that member's scope.
            grant = inviter.staff_grants[0] if inviter.staff_grants else None
            if grant is not None:
                scope_kind, scope_id = grant.scope_kind, grant.scope_id
    await _check_invite(session, inviter, role, person, unit, superusers)
    session.add(person)
    await session.flush()
    code = new_code()
    while await session.get(Invite, code) is not None:
        code = new_code()
    invite = Invite(
        code=code,
        person_id=person.id,
        role=role,
        scope_kind=scope_kind,
        scope_id=scope_id,
        created_by=actor,
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(invite)
    label = await scope_label(session, scope_kind, scope_id)
    await audit(session, actor, "invite", f"person={person.id} {role} {label}",
                subject=("person", person.id))
    return InviteResult(code, person.name, role, label, invite.expires_at)


# /绑定 guesses: after this many failures in the window an account is refused
# until the window has passed (every failure is audited).
REDEEM_MAX_FAILURES = 5
REDEEM_WINDOW_MINUTES = 10


async def redeem_locked(session: AsyncSession, account: str, now: datetime) -> bool:
    since = as_utc(now) - timedelta(minutes=REDEEM_WINDOW_MINUTES)
    failures = (
        await session.exec(
            select(func.count()).select_from(AuditLog).where(
                AuditLog.actor == account, AuditLog.action == "redeem_failed",
                col(AuditLog.at) >= since,
            )
        )
    ).one()
    return failures >= REDEEM_MAX_FAILURES


async def record_redeem_failure(
    session: AsyncSession, account: str, reason: str, now: datetime
) -> None:
    await audit(session, account, "redeem_failed", reason, at=now)


@dataclass
class Redemption:
    person_name: str
    role: str
    scope_label: str
    rebound_from: list[str] = field(default_factory=list)


async def redeem(session: AsyncSession, *, account: str, code: str, now: datetime) -> Redemption:
    invite = await session.get(Invite, code.strip().upper())
    if invite is None or invite.used_at is not None:
        raise RosterError("bad_code")
    expires = invite.expires_at
    if expires.tzinfo is None:
        from datetime import UTC

        expires = expires.replace(tzinfo=UTC)
    if expires <= now:
        raise RosterError("code_expired")
    person = await session.get(Person, invite.person_id)
    assert person is not None
    platform = account.split(":", 1)[0]
    acc = await session.get(Account, account)
    if acc is not None and acc.person_id != person.id:
        raise RosterError("account_taken")
    # A WeChat id can change after relogin: the person's old id on the same
    # platform is replaced, history (grants, reports) stays with the person.
    rebound = [a for a in await accounts_of(session, person.id) if a.startswith(platform + ":")]
    rebound = [a for a in rebound if a != account]
    for old in rebound:
        old_acc = await session.get(Account, old)
        if old_acc is not None:
            await session.delete(old_acc)
    if acc is None:
        session.add(Account(id=account, person_id=person.id, bound_at=now))
    if invite.role in BASE_ROLES:
        grant = await _grant(session, person.id, invite.role, invite.scope_kind, invite.scope_id)
        if grant is None:
            session.add(
                RoleGrant(
                    person_id=person.id,
                    role=invite.role,
                    scope_kind=invite.scope_kind,
                    scope_id=invite.scope_id,
                    granted_by=invite.created_by,
                )
            )
    else:
        await _join_team(session, person.id, invite.role)
    invite.used_at, invite.used_by = now, account
    session.add(invite)
    label = await scope_label(session, invite.scope_kind, invite.scope_id)
    await audit(
        session, account, "redeem_invite", f"{invite.role} {label} replaced={','.join(rebound)}"
    )
    return Redemption(person.name, invite.role, label, rebound)


# --- info -------------------------------------------------------------------


@dataclass
class MyInfo:
    account: str
    name: str | None
    roles: list[tuple[str, str, datetime | None]]
    teams: list[str]
    accounts: list[str]


async def my_info(session: AsyncSession, account: str, now: datetime) -> MyInfo:
    person = await person_of(session, account)
    if person is None:
        return MyInfo(account, None, [], [], [])
    roles = []
    for g in await active_grants(session, person.id, now):
        roles.append((g.role, await scope_label(session, g.scope_kind, g.scope_id), g.expires_at))
    roles.sort(key=lambda r: (BASE_ROLES.index(r[0]) if r[0] in BASE_ROLES else 99, r[1]))
    return MyInfo(
        account, person.name, roles, await teams_of(session, person.id),
        await accounts_of(session, person.id),
    )
