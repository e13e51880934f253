"""Queries shared by several capabilities: people, roles, scopes.

Plain async functions over a session; no bot, no templates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import or_, union
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ground.timeutil import as_utc
from storage.auditchain import GENESIS, row_hash
from storage.models import (
    Account,
    AuditLog,
    Building,
    ChatGroup,
    Community,
    Grid,
    Person,
    RoleGrant,
    TeamMember,
    Unit,
)

ADMIN = "管理员"
STAFF = "工作人员"
BUILDING_LEADER = "楼长"
UNIT_LEADER = "单元长"
VOLUNTEER = "志愿者"
BASE_ROLES = (ADMIN, STAFF, BUILDING_LEADER, UNIT_LEADER, VOLUNTEER)
SUPERVISION_TEAM = "纪检监督组"  # reads the duty record and the audit log
TEAMS = (
    "综合协调组",
    "数据统计排查组",
    "居家隔离管控组",
    "应急小分队",
    "宣传教育组",
    "应急处置组",
    "四人一专班",
    "流调组",
    "纪检监督组",
)

_ACCOUNT = re.compile(r"^(qq:[1-9]\d{4,11}|wx:[A-Za-z0-9_@.\-]{2,64}|console:[\w.\-]{1,64})$")


M = TypeVar("M", bound=SQLModel)


async def first_where(session: AsyncSession, model: type[M], *conditions: Any) -> M | None:
    """The first row of ``model`` that meets every condition, or None."""
    return (await session.exec(select(model).where(*conditions))).first()


def valid_account(account: str) -> bool:
    return bool(_ACCOUNT.match(account))


def is_team(name: str) -> bool:
    """Known working groups, or a street's own one named like them."""
    return name in TEAMS or (
        2 <= len(name) <= 20 and name[-1] in "组班队" and not re.search(r"[\s/:]", name)
    )


async def ensure_person(session: AsyncSession, account: str, name: str | None = None) -> Person:
    person = await person_of(session, account)
    if person is None:
        person = Person(name=name or account)
        session.add(person)
        await session.flush()
        session.add(Account(id=account, person_id=person.id))
        await session.flush()
    return person


async def person_of(session: AsyncSession, account: str) -> Person | None:
    acc = await session.get(Account, account)
    if acc is None:
        return None
    return await session.get(Person, acc.person_id)


async def accounts_of(session: AsyncSession, person_id: int) -> list[str]:
    rows = await session.exec(select(Account.id).where(Account.person_id == person_id))
    return sorted(rows.all())


async def active_grants(session: AsyncSession, person_id: int, now: datetime) -> list[RoleGrant]:
    rows = await session.exec(
        select(RoleGrant).where(
            RoleGrant.person_id == person_id,
            or_(col(RoleGrant.expires_at).is_(None), col(RoleGrant.expires_at) > now),
        )
    )
    return list(rows.all())


async def teams_of(session: AsyncSession, person_id: int) -> list[str]:
    rows = await session.exec(select(TeamMember.team).where(TeamMember.person_id == person_id))
    return sorted(rows.all())


async def roles_of_account(session: AsyncSession, account: str, now: datetime) -> set[str]:
    """Role names (base roles and team names) the account holds right now.

    One statement: this runs for every guarded command, so it is on the hot path.
    ``now`` is the runtime clock's: grants given "至 今天24:00" expire on it.
    """
    grants = (
        select(RoleGrant.role)
        .join(Account, col(Account.person_id) == col(RoleGrant.person_id))
        .where(
            Account.id == account,
            or_(col(RoleGrant.expires_at).is_(None), col(RoleGrant.expires_at) > now),
        )
    )
    teams = (
        select(TeamMember.team)
        .join(Account, col(Account.person_id) == col(TeamMember.person_id))
        .where(Account.id == account)
    )
    rows = await session.exec(union(grants, teams))
    return {r[0] for r in rows.all()}


async def group_binding(
    session: AsyncSession, platform: str, group_id: str | None
) -> ChatGroup | None:
    """The stored binding of a platform group (None in a private chat or when unbound)."""
    if group_id is None:
        return None
    return (
        await session.exec(
            select(ChatGroup).where(ChatGroup.platform == platform, ChatGroup.group_id == group_id)
        )
    ).first()


async def audit(
    session: AsyncSession, actor: str, action: str, detail: str = "", at: datetime | None = None,
    *, subject: tuple[str, int | None] = ("", None), scope: str = "",
) -> None:
    """One audit row, chained to the one before (under the caller's write lock).

    ``at``: the caller's clock (the runtime clock); the row's default is the host clock.
    ``subject`` (kind, id) and ``scope`` are the structured fields beside the text;
    ``detail`` holds ids and codes, never names or free text.
    """
    row = AuditLog(actor=actor, action=action, detail=detail, subject_kind=subject[0],
                   subject_id=subject[1], scope=scope)
    if at is not None:
        row.at = as_utc(at)
    prev = (await session.exec(
        select(AuditLog.hash).order_by(col(AuditLog.id).desc()).limit(1))).first()
    row.prev_hash = prev or GENESIS
    row.hash = row_hash(row.prev_hash, row.at, actor, action, row.subject_kind, row.subject_id,
                        scope, detail)
    session.add(row)
    await session.flush()  # the next row in this transaction chains to this one


# --- scopes -----------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """A resolved scope: a kind and the ids it covers, with a label for people."""

    kind: str  # all | community | grid | building | buildings | unit
    ids: tuple[int, ...]
    label: str

    @property
    def single(self) -> tuple[str, int] | None:
        if self.kind == "all":
            return ("all", 0)
        if self.kind in ("community", "grid", "building", "unit") and len(self.ids) == 1:
            return (self.kind, self.ids[0])
        return None


ALL = Scope("all", (), "全部")


class ScopeError(ValueError):
    def __init__(self, code: str, value: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.value = value


async def scope_label(session: AsyncSession, kind: str, scope_id: int) -> str:
    if kind == "all":
        return "全部"
    if kind == "community":
        c = await session.get(Community, scope_id)
        return c.name if c else "?"
    if kind == "grid":
        g = await session.get(Grid, scope_id)
        if g is None:
            return "?"
        c = await session.get(Community, g.community_id)
        return f"{c.name}/{g.name}" if c else g.name
    if kind == "building":
        b = await session.get(Building, scope_id)
        if b is None:
            return "?"
        c = await session.get(Community, b.community_id)
        return f"{c.name}/{b.number}栋" if c else f"{b.number}栋"
    if kind == "unit":
        u = await session.get(Unit, scope_id)
        if u is None:
            return "?"
        b = await session.get(Building, u.building_id)
        c = await session.get(Community, b.community_id) if b else None
        return f"{c.name if c else ''}/{b.number if b else '?'}栋{u.number}单元"
    return "?"


def unit_label(building: Building, unit: Unit) -> str:
    return f"{building.number}栋{unit.number}单元"


async def community_of_scope(session: AsyncSession, kind: str, scope_id: int) -> int | None:
    if kind == "community":
        return scope_id
    if kind == "grid":
        g = await session.get(Grid, scope_id)
        return g.community_id if g else None
    if kind == "building":
        b = await session.get(Building, scope_id)
        return b.community_id if b else None
    if kind == "unit":
        u = await session.get(Unit, scope_id)
        b = await session.get(Building, u.building_id) if u else None
        return b.community_id if b else None
    return None


async def resolve_scope(
    session: AsyncSession, expr, base: tuple[str, int] | None = None
) -> Scope:
    """Turn a parsed scope expression into ids; relative names resolve within `base`.

    `expr` is a `ground.grammar.ScopeExpr`. Raises ScopeError with a code
    the caller turns into a template.
    """
    if expr.kind == "all":
        return ALL
    base = base or ("all", 0)
    if expr.community is not None:
        community = (
            await session.exec(select(Community).where(Community.name == expr.community))
        ).first()
        if community is None:
            raise ScopeError("unknown_community", expr.community)
        within: tuple[str, int] = ("community", community.id)
    else:
        cid = await community_of_scope(session, *base)
        if cid is None:
            communities = (await session.exec(select(Community))).all()
            if len(communities) != 1:
                raise ScopeError("need_community")
            cid = communities[0].id
            within = ("community", cid)
        else:
            within = base
        community = await session.get(Community, cid)
    assert community is not None
    if expr.kind == "community":
        return Scope("community", (community.id,), community.name)
    if expr.kind == "grid":
        grid = (
            await session.exec(
                select(Grid).where(Grid.community_id == community.id, Grid.name == expr.grid)
            )
        ).first()
        if grid is None:
            raise ScopeError("unknown_grid", expr.grid or "")
        if within[0] not in ("community", "grid") or (
            within[0] == "grid" and within[1] != grid.id
        ):
            raise ScopeError("outside", expr.grid or "")
        return Scope("grid", (grid.id,), f"{community.name}/{grid.name}")
    numbers = (expr.unit.building,) if expr.kind == "unit" else tuple(expr.buildings)
    rows = (
        await session.exec(
            select(Building).where(
                Building.community_id == community.id, col(Building.number).in_(numbers)
            )
        )
    ).all()
    by_number = {b.number: b for b in rows}
    for n in numbers:
        b = by_number.get(n)
        if b is None:
            raise ScopeError("unknown_building", f"{n}栋")
        if not _building_within(b, within):
            raise ScopeError("outside", f"{n}栋")
    if expr.kind == "unit":
        b = by_number[expr.unit.building]
        unit = (
            await session.exec(
                select(Unit).where(Unit.building_id == b.id, Unit.number == expr.unit.unit)
            )
        ).first()
        if unit is None:
            raise ScopeError("unknown_unit", f"{b.number}栋{expr.unit.unit}单元")
        if within[0] == "unit" and within[1] != unit.id:
            raise ScopeError("outside", unit_label(b, unit))
        return Scope("unit", (unit.id,), f"{community.name}/{unit_label(b, unit)}")
    ids = tuple(by_number[n].id for n in numbers)
    label = f"{community.name}/" + ",".join(f"{n}栋" for n in numbers)
    return Scope("building" if len(ids) == 1 else "buildings", ids, label)


def _building_within(b: Building, within: tuple[str, int]) -> bool:
    kind, sid = within
    if kind in ("all", "community"):
        return kind == "all" or b.community_id == sid
    if kind == "grid":
        return b.grid_id == sid
    if kind == "building":
        return b.id == sid
    return kind == "unit"  # checked against the unit itself by the caller


async def units_in(session: AsyncSession, scope: Scope) -> list[tuple[Building, Unit]]:
    """Every unit a scope covers, ordered by community, building, unit."""
    stmt = select(Building, Unit).join(Unit, col(Unit.building_id) == col(Building.id))
    if scope.kind == "community":
        stmt = stmt.where(col(Building.community_id).in_(scope.ids))
    elif scope.kind == "grid":
        stmt = stmt.where(col(Building.grid_id).in_(scope.ids))
    elif scope.kind in ("building", "buildings"):
        stmt = stmt.where(col(Building.id).in_(scope.ids))
    elif scope.kind == "unit":
        stmt = stmt.where(col(Unit.id).in_(scope.ids))
    stmt = stmt.order_by(Building.community_id, Building.number, Unit.number)
    return [(b, u) for b, u in (await session.exec(stmt)).all()]


async def find_person_by_name(session: AsyncSession, name: str) -> list[Person]:
    return list((await session.exec(select(Person).where(Person.name == name))).all())
