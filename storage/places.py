"""Where a unit sits, who leads it, who is asking, and which bound groups cover it.

Shared by the plugins that route messages by where a unit sits in the tree
(checkin, quarantine, incidents, duties) and by the deadline plugins' target
helpers (plugins._common.targets). Plain async functions over a session and
pure helpers; no bot, no templates, no plugin imports.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import and_, bindparam, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ground.timeutil import as_utc
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

if TYPE_CHECKING:
    from ground.grammar import ScopeExpr

# Which bound groups are "closer" to a unit: a grid's work group beats the community's.
SPECIFICITY = {"unit": 4, "building": 3, "grid": 2, "community": 1, "all": 0}
LEADER_ROLES = (UNIT_LEADER, BUILDING_LEADER)
_IN_CHUNK = 500  # SQLite's bound-parameter limit is far above; keeps statements small


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for i in range(0, len(ids), _IN_CHUNK):
        yield ids[i : i + _IN_CHUNK]


# --- units -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    """Where a unit sits in the tree: enough to route a message."""

    unit_id: int
    building_id: int
    grid_id: int
    community_id: int

    @classmethod
    def of(cls, row: Any) -> Place:
        """From anything carrying the four ids (a round's unit snapshot, …)."""
        return cls(row.unit_id, row.building_id, row.grid_id, row.community_id)

    def covers(self, scope_kind: str, scope_id: int) -> bool:
        """Whether a scope (``all``, or a community/grid/building/unit id) contains
        this unit: the one answer for bound groups, grants and rounds."""
        if scope_kind == "all":
            return True
        return {
            "community": self.community_id,
            "grid": self.grid_id,
            "building": self.building_id,
            "unit": self.unit_id,
        }.get(scope_kind) == scope_id


@dataclass(frozen=True)
class LabelledPlace(Place):
    """A place with what people call it: enough to route a message and to label it."""

    building_no: int
    unit_no: int
    community: str = ""

    @property
    def label(self) -> str:
        return f"{self.building_no}栋{self.unit_no}单元"

    @property
    def full_label(self) -> str:
        return f"{self.community}/{self.label}" if self.community else self.label


def _labelled(unit: Unit, building: Building, community: Community) -> LabelledPlace:
    return LabelledPlace(
        unit.id, building.id, building.grid_id, building.community_id,  # type: ignore[arg-type]
        building.number, unit.number, community.name,
    )


async def place_of(session: AsyncSession, unit_id: int) -> LabelledPlace | None:
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
    return _labelled(*row)


async def places_of(session: AsyncSession, unit_ids: Sequence[int]) -> dict[int, LabelledPlace]:
    out: dict[int, LabelledPlace] = {}
    for chunk in _chunks(list(unit_ids)):
        rows = (
            await session.exec(
                select(Unit, Building, Community)
                .join(Building, col(Building.id) == Unit.building_id)
                .join(Community, col(Community.id) == Building.community_id)
                .where(col(Unit.id).in_(chunk))
            )
        ).all()
        for unit, building, community in rows:
            out[unit.id] = _labelled(unit, building, community)  # type: ignore[index]
    return out


async def all_places(session: AsyncSession) -> list[Place]:
    """Every unit of the street with its building, grid and community ids (one query)."""
    rows = await session.exec(
        select(Unit.id, Building.id, Building.grid_id, Building.community_id).join(
            Building, col(Building.id) == Unit.building_id
        )
    )
    return [Place(*row) for row in rows.all()]


async def resolve_unit(
    session: AsyncSession, expr: ScopeExpr, base: tuple[str, int] | None = None
) -> LabelledPlace:
    """A unit expression (``3栋2单元``, ``幸福社区/3-2``) -> its place; ScopeError if unknown."""
    scope = await resolve_scope(session, expr, base)
    place = await place_of(session, scope.ids[0]) if scope.kind == "unit" else None
    if place is None:
        raise ScopeError("unknown_unit", str(expr))
    return place


# --- leaders ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Leader:
    person_id: int
    name: str
    role: str
    accounts: tuple[str, ...]

    def account_on(self, platform: str) -> str | None:
        """The leader's first account on ``platform`` (``platform:id``), if any."""
        for account in self.accounts:
            if account.startswith(platform + ":"):
                return account
        return None


async def _grants(
    session: AsyncSession, role: str, kind: str, ids: Sequence[int], now: datetime
) -> dict[int, list[Leader]]:
    """Active ``role`` grants on ``kind`` scopes by scope id, with the people's accounts."""
    out: dict[int, list[Leader]] = {}
    for chunk in _chunks(sorted(set(ids))):
        rows = (
            await session.exec(
                select(RoleGrant.scope_id, Person.id, Person.name, Account.id)
                .join(Person, col(Person.id) == RoleGrant.person_id)
                .outerjoin(Account, col(Account.person_id) == Person.id)
                .where(
                    RoleGrant.role == role,
                    RoleGrant.scope_kind == kind,
                    col(RoleGrant.scope_id).in_(chunk),
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


async def leaders_of(
    session: AsyncSession, unit_ids: Sequence[int], building_ids: Sequence[int], now: datetime
) -> tuple[dict[int, list[Leader]], dict[int, list[Leader]]]:
    """Active 单元长 grants by unit id and 楼长 grants by building id, with accounts."""
    now = as_utc(now)
    by_unit = await _grants(session, UNIT_LEADER, "unit", unit_ids, now)
    by_building = await _grants(session, BUILDING_LEADER, "building", building_ids, now)
    return by_unit, by_building


async def leaders_by_unit(
    session: AsyncSession, places: Sequence[Place], now: datetime
) -> dict[int, list[Leader]]:
    """Every unit's 单元长 followed by its building's 楼长 (active grants only)."""
    by_unit, by_building = await leaders_of(
        session, [p.unit_id for p in places], [p.building_id for p in places], now
    )
    return {
        p.unit_id: by_unit.get(p.unit_id, []) + by_building.get(p.building_id, [])
        for p in places
    }


async def responsible_leaders(session: AsyncSession, place: Place, now: datetime) -> list[Leader]:
    """The unit's 单元长, or its building's 楼长 when the unit has none (with an account)."""
    leaders = (await leaders_by_unit(session, [place], now))[place.unit_id]
    for role in LEADER_ROLES:
        chosen = [ld for ld in leaders if ld.role == role and ld.accounts]
        if chosen:
            return chosen
    return []


# --- people ----------------------------------------------------------------------------------


async def team_accounts(session: AsyncSession, team: str) -> list[str]:
    """The accounts of a working group's members, in account order."""
    rows = await session.exec(
        select(Account.id)
        .join(TeamMember, col(TeamMember.person_id) == Account.person_id)
        .where(TeamMember.team == team)
        .order_by(Account.id)
    )
    return list(dict.fromkeys(rows.all()))


async def name_of(session: AsyncSession, account: str) -> str:
    """A worker's roster name (the account itself when unknown)."""
    acc = await session.get(Account, account)
    person = await session.get(Person, acc.person_id) if acc is not None else None
    return person.name if person is not None else account


class ScopedGrant(Protocol):
    role: str
    scope_kind: str
    scope_id: int


@dataclass(frozen=True)
class Standing:
    """The sender's roles that matter to a command."""

    account: str
    person_id: int | None = None
    name: str = ""
    staff: bool = False
    teams: frozenset[str] = frozenset()  # empty from ``leader_standing``, which skips teams
    # RoleGrant rows, or the directory's Grant: what matters is role and scope.
    leader_grants: tuple[ScopedGrant, ...] = ()

    @property
    def unit_ids(self) -> frozenset[int]:
        return frozenset(
            g.scope_id for g in self.leader_grants
            if g.role == UNIT_LEADER and g.scope_kind == "unit"
        )

    @property
    def building_ids(self) -> frozenset[int]:
        return frozenset(
            g.scope_id for g in self.leader_grants
            if g.role == BUILDING_LEADER and g.scope_kind == "building"
        )

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
    """Staff flag, working groups and leader grants (session-tracked RoleGrant rows)."""
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
        leader_grants=tuple(g for g in grants if g.role in LEADER_ROLES),
    )


# Built once: /打卡 is the hot path and statement construction costs as much as the query.
_STANDING = (
    select(Account.person_id, Person.name, RoleGrant.role, RoleGrant.scope_kind, RoleGrant.scope_id)
    .join(Person, col(Person.id) == Account.person_id)
    .outerjoin(
        RoleGrant,
        and_(
            col(RoleGrant.person_id) == Account.person_id,
            or_(
                col(RoleGrant.expires_at).is_(None),
                col(RoleGrant.expires_at) > bindparam("now"),
            ),
        ),
    )
    .where(col(Account.id) == bindparam("account"))
)


async def leader_standing(
    session: AsyncSession, account: str, now: datetime, superuser: bool = False
) -> Standing:
    """Staff flag and leader grants only (no teams), in one prebuilt query: the
    check-in hot path. The grants are transient RoleGrant objects, never added."""
    conn = await session.connection()
    rows = (await conn.execute(_STANDING, {"account": account, "now": as_utc(now)})).all()
    if not rows:
        return Standing(account, staff=superuser)
    person_id, name = rows[0][0], rows[0][1]
    roles = [(role, kind, sid) for _, _, role, kind, sid in rows if role is not None]
    return Standing(
        account=account,
        person_id=person_id,
        name=name,
        staff=superuser or any(role in (ADMIN, STAFF) for role, _, _ in roles),
        leader_grants=tuple(
            RoleGrant(person_id=person_id, role=role, scope_kind=kind, scope_id=sid)
            for role, kind, sid in roles
            if role in LEADER_ROLES
        ),
    )


# --- groups ----------------------------------------------------------------------------------


def covers(group: ChatGroup, place: Place) -> bool:
    return place.covers(group.scope_kind, group.scope_id)


async def grant_covers_unit(session: AsyncSession, grant: ScopedGrant, unit: Unit) -> bool:
    """Whether a role grant's scope contains the unit."""
    if grant.scope_kind in ("all", "unit"):
        return grant.scope_kind == "all" or grant.scope_id == unit.id
    b = await session.get(Building, unit.building_id)
    if b is None:
        return False
    place = Place(unit.id, b.id, b.grid_id, b.community_id)  # type: ignore[arg-type]
    return place.covers(grant.scope_kind, grant.scope_id)


def covering_any(groups: Iterable[ChatGroup], places: Sequence[Place]) -> list[ChatGroup]:
    return [g for g in groups if any(covers(g, p) for p in places)]


async def staff_groups(session: AsyncSession) -> list[ChatGroup]:
    """Work and team groups (never residents' groups), in binding order."""
    rows = await session.exec(
        select(ChatGroup).where(col(ChatGroup.kind).in_(("work", "team"))).order_by(ChatGroup.id)
    )
    return list(rows.all())


async def bound_team_groups(session: AsyncSession, team: str) -> list[ChatGroup]:
    """A working group's bound team groups, in binding order."""
    rows = await session.exec(
        select(ChatGroup)
        .where(ChatGroup.kind == "team", ChatGroup.team == team)
        .order_by(ChatGroup.id)
    )
    return list(rows.all())


def work_groups(groups: Iterable[ChatGroup]) -> list[ChatGroup]:
    return [g for g in groups if g.kind == "work"]


def team_groups(
    groups: Iterable[ChatGroup], team: str, place: Place | None = None
) -> list[ChatGroup]:
    """A working group's team groups (covering ``place`` when given)."""
    return [
        g for g in groups
        if g.kind == "team" and g.team == team and (place is None or covers(g, place))
    ]


def _at_level(groups: Iterable[ChatGroup], pick) -> list[ChatGroup]:
    """The groups bound at the level ``pick`` (max or min) chooses among theirs."""
    groups = list(groups)
    if not groups:
        return []
    level = pick(SPECIFICITY.get(g.scope_kind, 0) for g in groups)
    return [g for g in groups if SPECIFICITY.get(g.scope_kind, 0) == level]


def most_specific(groups: Iterable[ChatGroup]) -> list[ChatGroup]:
    """The groups bound at the narrowest level among them (all of them at that level)."""
    return _at_level(groups, max)


def broadest(groups: Iterable[ChatGroup]) -> list[ChatGroup]:
    """The groups bound at the broadest level among them (all of them at that level)."""
    return _at_level(groups, min)


def closest_work_groups(groups: Iterable[ChatGroup], place: Place) -> list[ChatGroup]:
    """The work groups covering a unit at the most specific level."""
    return most_specific(g for g in groups if g.kind == "work" and covers(g, place))


def broadest_work_groups_covering(
    groups: Iterable[ChatGroup], places: Sequence[Place]
) -> list[ChatGroup]:
    """The work groups covering any of the units at the broadest level
    (one summary per community group, not one per grid)."""
    return broadest(covering_any(work_groups(groups), places))


def unique(groups: Iterable[ChatGroup]) -> list[ChatGroup]:
    """Drop repeated groups (by id), keeping the first occurrence's order."""
    seen: set[int | None] = set()
    out = []
    for g in groups:
        if g.id not in seen:
            seen.add(g.id)
            out.append(g)
    return out
