"""Who leads a unit, who is asking, and which bound groups cover a unit.

Shared by the three event plugins (quarantine, incidents, duties): they all
route messages by where a unit sits in the tree. It lives in this plugin
because ``plugins.quarantine`` is loaded first of the three (bot/app.py
PLUGINS); importing a plugin package before NoneBot loads it would break it.

Plain async functions over a session; no bot, no templates.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.platforms import Mention
from plugins._common.parse import ScopeExpr
from storage.models import (
    Account,
    Building,
    ChatGroup,
    Community,
    Person,
    RoleGrant,
    TeamMember,
    Unit,
)
from storage.repo import (
    ADMIN,
    BUILDING_LEADER,
    STAFF,
    UNIT_LEADER,
    ScopeError,
    resolve_scope,
)

# Which bound groups are "closer" to a unit: a grid's work group beats the community's.
SPECIFICITY = {"unit": 4, "building": 3, "grid": 2, "community": 1, "all": 0}
_IN_CHUNK = 500  # SQLite's bound-parameter limit is far above; keeps statements small


def as_utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


# --- units -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    """A unit and where it sits: enough to route a message and to label it."""

    unit_id: int
    building_id: int
    grid_id: int
    community_id: int
    building_no: int
    unit_no: int
    community: str = ""

    @property
    def label(self) -> str:
        return f"{self.building_no}栋{self.unit_no}单元"

    @property
    def full_label(self) -> str:
        return f"{self.community}/{self.label}" if self.community else self.label


async def place_of(session: AsyncSession, unit_id: int) -> Place | None:
    row = (
        await session.exec(
            select(Unit, Building, Community)
            .join(Building, col(Building.id) == Unit.building_id)
            .join(Community, col(Community.id) == Building.community_id)
            .where(Unit.id == unit_id)
        )
    ).first()
    if row is None:
        return None
    unit, building, community = row
    return Place(
        unit.id, building.id, building.grid_id, building.community_id,  # type: ignore[arg-type]
        building.number, unit.number, community.name,
    )


async def places_of(session: AsyncSession, unit_ids: Sequence[int]) -> dict[int, Place]:
    out: dict[int, Place] = {}
    ids = list(unit_ids)
    for i in range(0, len(ids), _IN_CHUNK):
        rows = (
            await session.exec(
                select(Unit, Building, Community)
                .join(Building, col(Building.id) == Unit.building_id)
                .join(Community, col(Community.id) == Building.community_id)
                .where(col(Unit.id).in_(ids[i : i + _IN_CHUNK]))
            )
        ).all()
        for unit, building, community in rows:
            out[unit.id] = Place(  # type: ignore[index]
                unit.id, building.id, building.grid_id, building.community_id,  # type: ignore[arg-type]
                building.number, unit.number, community.name,
            )
    return out


async def resolve_unit(
    session: AsyncSession, expr: ScopeExpr, base: tuple[str, int] | None = None
) -> Place:
    """A unit expression (``3栋2单元``, ``幸福社区/3-2``) -> its place; ScopeError if unknown."""
    scope = await resolve_scope(session, expr, base)
    place = await place_of(session, scope.ids[0]) if scope.kind == "unit" else None
    if place is None:
        raise ScopeError("unknown_unit", str(expr))
    return place


# --- people ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Leader:
    person_id: int
    name: str
    role: str
    accounts: tuple[str, ...]

    def mention(self, platform: str) -> Mention | None:
        for account in self.accounts:
            if account.startswith(platform + ":"):
                return Mention(account, self.name)
        return None


async def _grants(
    session: AsyncSession, role: str, kind: str, ids: Sequence[int], now: datetime
) -> dict[int, list[Leader]]:
    out: dict[int, list[Leader]] = {}
    ids = sorted(set(ids))
    for i in range(0, len(ids), _IN_CHUNK):
        rows = (
            await session.exec(
                select(RoleGrant.scope_id, Person.id, Person.name, Account.id)
                .join(Person, col(Person.id) == RoleGrant.person_id)
                .outerjoin(Account, col(Account.person_id) == Person.id)
                .where(
                    RoleGrant.role == role,
                    RoleGrant.scope_kind == kind,
                    col(RoleGrant.scope_id).in_(ids[i : i + _IN_CHUNK]),
                    or_(col(RoleGrant.expires_at).is_(None), col(RoleGrant.expires_at) > now),
                )
                .order_by(RoleGrant.scope_id, Person.id, Account.id)
            )
        ).all()
        people: dict[tuple[int, int], tuple[str, list[str]]] = {}
        for scope_id, pid, name, account in rows:
            entry = people.setdefault((scope_id, pid), (name, []))
            if account:
                entry[1].append(account)
        for (scope_id, pid), (name, accounts) in people.items():
            out.setdefault(scope_id, []).append(Leader(pid, name, role, tuple(accounts)))
    return out


async def leaders_by_unit(
    session: AsyncSession, places: Sequence[Place], now: datetime
) -> dict[int, list[Leader]]:
    """Every unit's 单元长 followed by its building's 楼长 (active grants only)."""
    now = as_utc(now)
    by_unit = await _grants(session, UNIT_LEADER, "unit", [p.unit_id for p in places], now)
    by_building = await _grants(
        session, BUILDING_LEADER, "building", [p.building_id for p in places], now
    )
    return {
        p.unit_id: by_unit.get(p.unit_id, []) + by_building.get(p.building_id, [])
        for p in places
    }


async def responsible_leaders(session: AsyncSession, place: Place, now: datetime) -> list[Leader]:
    """The unit's 单元长, or its building's 楼长 when the unit has none (with an account)."""
    leaders = (await leaders_by_unit(session, [place], now))[place.unit_id]
    for role in (UNIT_LEADER, BUILDING_LEADER):
        chosen = [ld for ld in leaders if ld.role == role and ld.accounts]
        if chosen:
            return chosen
    return []


async def team_accounts(session: AsyncSession, team: str) -> list[str]:
    rows = await session.exec(
        select(Account.id)
        .join(TeamMember, col(TeamMember.person_id) == Account.person_id)
        .where(TeamMember.team == team)
        .order_by(Account.id)
    )
    return list(rows.all())


async def name_of(session: AsyncSession, account: str) -> str:
    """A worker's roster name (the account itself when unknown)."""
    acc = await session.get(Account, account)
    person = await session.get(Person, acc.person_id) if acc is not None else None
    return person.name if person is not None else account


@dataclass(frozen=True)
class Standing:
    """The sender's roles that matter to the event commands."""

    account: str
    person_id: int | None = None
    name: str = ""
    staff: bool = False
    teams: frozenset[str] = frozenset()
    leader_grants: tuple[RoleGrant, ...] = ()

    def leads(self, place: Place) -> bool:
        """单元长 of this unit, or 楼长 of its building (a wider leader grant also counts)."""
        for g in self.leader_grants:
            if g.scope_kind == "all":
                return True
            if g.scope_kind == "unit" and g.scope_id == place.unit_id:
                return True
            if g.scope_kind == "building" and g.scope_id == place.building_id:
                return True
            if g.scope_kind == "grid" and g.scope_id == place.grid_id:
                return True
            if g.scope_kind == "community" and g.scope_id == place.community_id:
                return True
        return False

    def may_handle(self, place: Place) -> bool:
        return self.staff or self.leads(place)


async def standing(
    session: AsyncSession, account: str, now: datetime, superuser: bool = False
) -> Standing:
    acc = await session.get(Account, account)
    if acc is None:
        return Standing(account, staff=superuser)
    person = await session.get(Person, acc.person_id)
    now = as_utc(now)
    grants = (
        await session.exec(
            select(RoleGrant).where(
                RoleGrant.person_id == acc.person_id,
                or_(col(RoleGrant.expires_at).is_(None), col(RoleGrant.expires_at) > now),
            )
        )
    ).all()
    teams = (
        await session.exec(select(TeamMember.team).where(TeamMember.person_id == acc.person_id))
    ).all()
    return Standing(
        account=account,
        person_id=acc.person_id,
        name=person.name if person else "",
        staff=superuser or any(g.role in (ADMIN, STAFF) for g in grants),
        teams=frozenset(teams),
        leader_grants=tuple(g for g in grants if g.role in (UNIT_LEADER, BUILDING_LEADER)),
    )


# --- groups ----------------------------------------------------------------------------------


def covers(group: ChatGroup, place: Place) -> bool:
    if group.scope_kind == "all":
        return True
    return {
        "community": place.community_id,
        "grid": place.grid_id,
        "building": place.building_id,
        "unit": place.unit_id,
    }.get(group.scope_kind) == group.scope_id


async def staff_groups(session: AsyncSession) -> list[ChatGroup]:
    """Work and team groups: the only kinds the event plugins ever push to."""
    rows = await session.exec(
        select(ChatGroup).where(col(ChatGroup.kind).in_(("work", "team"))).order_by(ChatGroup.id)
    )
    return list(rows.all())


def team_groups(
    groups: Iterable[ChatGroup], team: str, place: Place | None = None
) -> list[ChatGroup]:
    return [
        g for g in groups
        if g.kind == "team" and g.team == team and (place is None or covers(g, place))
    ]


def closest_work_groups(groups: Iterable[ChatGroup], place: Place) -> list[ChatGroup]:
    """The work groups covering a unit at the most specific level."""
    covering = [g for g in groups if g.kind == "work" and covers(g, place)]
    if not covering:
        return []
    best = max(SPECIFICITY.get(g.scope_kind, 0) for g in covering)
    return [g for g in covering if SPECIFICITY.get(g.scope_kind, 0) == best]


def unique(groups: Iterable[ChatGroup]) -> list[ChatGroup]:
    seen: set[int | None] = set()
    out = []
    for g in groups:
        if g.id not in seen:
            seen.add(g.id)
            out.append(g)
    return out
