"""Roster import (DESIGN.md §2): unit rosters and staff rosters, CSV or XLSX.

Every row is validated before anything is written; a file with any bad row is
rejected whole, with row numbers as a spreadsheet shows them (header = row 1).
Re-importing the same file changes nothing: rows are matched by their natural
keys (community, grid, building number, unit number, account).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ground.grammar import cn_to_int, normalize, parse_building
from storage.models import Account, Building, Community, Grid, Person, RoleGrant, TeamMember, Unit
from storage.repo import (
    ADMIN,
    BUILDING_LEADER,
    STAFF,
    UNIT_LEADER,
    audit,
    ensure_person,
    is_team,
    valid_account,
)

UNIT_HEADER = ["社区", "网格", "楼栋", "单元", "户数", "楼长", "楼长账号", "单元长", "单元长账号"]
STAFF_HEADER = ["姓名", "账号", "工作组", "管理员"]
MAX_HOUSEHOLDS = 10_000
IMPORTED_BY = "import"


class ImportError_(ValueError):
    def __init__(self, errors: list[tuple[int, str]]) -> None:
        super().__init__("; ".join(f"row {r}: {m}" for r, m in errors))
        self.errors = errors


@dataclass
class UnitRow:
    line: int
    community: str
    grid: str
    building: int
    unit: int
    households: int
    building_leader: str
    building_leader_account: str
    unit_leader: str
    unit_leader_account: str


@dataclass
class StaffRow:
    line: int
    name: str
    account: str
    teams: list[str]
    admin: bool


@dataclass
class ImportReport:
    kind: str  # units | staff
    rows: int
    created: dict[str, int] = field(default_factory=dict)


def read_table(path: Path) -> list[list[str]]:
    """Blocking file read: call it in a thread from async code."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        wb = load_workbook(path, read_only=True, data_only=True)
        try:
            ws = wb.worksheets[0]
            return [
                ["" if v is None else _cell(v) for v in row]
                for row in ws.iter_rows(values_only=True)
            ]
        finally:
            wb.close()
    data = path.read_bytes()
    return parse_csv_text(data.decode("utf-8-sig"))


def parse_csv_text(text: str) -> list[list[str]]:
    return [row for row in csv.reader(io.StringIO(text.lstrip("\ufeff")))]


def _cell(v) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _clean(s: str) -> str:
    return normalize(s or "")


def _number(text: str, suffixes: str) -> int | None:
    t = _clean(text)
    t = re.sub(f"[{suffixes}]+$", "", t)
    return cn_to_int(t)


def detect_kind(header: list[str]) -> str | None:
    cells = [_clean(h) for h in header]
    while cells and not cells[-1]:
        cells.pop()
    if cells == UNIT_HEADER:
        return "units"
    if cells == STAFF_HEADER:
        return "staff"
    return None


def validate(table: list[list[str]]) -> tuple[str, list[UnitRow] | list[StaffRow]]:
    if not table:
        raise ImportError_([(1, "文件为空")])
    kind = detect_kind(table[0])
    if kind is None:
        raise ImportError_(
            [(1, "表头不符，应为 " + ",".join(UNIT_HEADER) + " 或 " + ",".join(STAFF_HEADER))]
        )
    errors: list[tuple[int, str]] = []
    rows: list = []
    width = len(UNIT_HEADER if kind == "units" else STAFF_HEADER)
    seen: dict[tuple, int] = {}
    for i, raw in enumerate(table[1:], start=2):
        cells = [_clean(c) for c in raw] + [""] * width
        if not any(cells):
            continue
        if any(cells[width:]):
            errors.append((i, "列数多于表头"))
            continue
        cells = cells[:width]
        row_errors: list[str] = []
        if kind == "units":
            row = _unit_row(i, cells, row_errors)
            key = (row.community, row.building, row.unit) if row else None
        else:
            row = _staff_row(i, cells, row_errors)
            key = (row.account,) if row else None
        if key is not None and key in seen:
            row_errors.append(f"与第{seen[key]}行重复")
        if row_errors:
            errors.append((i, "；".join(row_errors)))
        elif row is not None and key is not None:
            seen[key] = i
            rows.append(row)
    if errors:
        raise ImportError_(errors)
    if not rows:
        raise ImportError_([(2, "没有数据行")])
    return kind, rows


def _unit_row(line: int, c: list[str], errs: list[str]) -> UnitRow | None:
    community, grid, b_txt, u_txt, hh_txt, bl, bla, ul, ula = c
    if not community:
        errs.append("社区为空")
    if not grid:
        errs.append("网格为空")
    building = parse_building(b_txt) if b_txt else None
    if building is None:
        building = _number(b_txt, "栋幢号楼")
    if building is None or not 1 <= building <= 999:
        errs.append(f"楼栋“{b_txt}”无法识别")
    unit = _number(u_txt, "单元")
    if unit is None or not 1 <= unit <= 99:
        errs.append(f"单元“{u_txt}”无法识别")
    households = _number(hh_txt, "户")
    if households is None or not 0 <= households <= MAX_HOUSEHOLDS:
        errs.append(f"户数“{hh_txt}”无效")
    for who, acc in (("楼长账号", bla), ("单元长账号", ula)):
        if acc and not valid_account(acc):
            errs.append(f"{who}“{acc}”格式应为 qq:号码 / wx:微信号")
    if bla and not bl:
        errs.append("有楼长账号但楼长姓名为空")
    if ula and not ul:
        errs.append("有单元长账号但单元长姓名为空")
    if errs:
        return None
    assert building is not None and unit is not None and households is not None
    return UnitRow(line, community, grid, building, unit, households, bl, bla, ul, ula)


def _staff_row(line: int, c: list[str], errs: list[str]) -> StaffRow | None:
    name, account, teams_txt, admin_txt = c
    if not name:
        errs.append("姓名为空")
    if not valid_account(account):
        errs.append(f"账号“{account}”格式应为 qq:号码 / wx:微信号")
    teams = [t.strip() for t in re.split(r"[;；、,]", teams_txt) if t.strip()]
    for t in teams:
        if not is_team(t):
            errs.append(f"工作组“{t}”无法识别")
    if admin_txt not in ("是", "否", ""):
        errs.append(f"管理员应为 是/否，而不是“{admin_txt}”")
    if errs:
        return None
    return StaffRow(line, name, account, teams, admin_txt == "是")


Progress = Callable[[int, int], None]


async def import_rows(
    session: AsyncSession,
    kind: str,
    rows: list,
    *,
    actor: str = IMPORTED_BY,
    progress: Progress | None = None,
) -> ImportReport:
    """Write validated rows in the caller's (write) transaction."""
    report = ImportReport(kind, len(rows))
    count = report.created
    for n, row in enumerate(rows, start=1):
        if kind == "units":
            await _import_unit(session, row, count)
        else:
            await _import_staff(session, row, count)
        if progress and (n % 200 == 0 or n == len(rows)):
            progress(n, len(rows))
    await audit(session, actor, "import", f"{kind} rows={len(rows)} created={count}")
    return report


def _bump(count: dict[str, int], key: str) -> None:
    count[key] = count.get(key, 0) + 1


async def _get_or_create(session: AsyncSession, model, count, key, **where):
    stmt = select(model)
    for k, v in where.items():
        stmt = stmt.where(getattr(model, k) == v)
    obj = (await session.exec(stmt)).first()
    if obj is None:
        obj = model(**where)
        session.add(obj)
        await session.flush()
        _bump(count, key)
    return obj


async def _import_unit(session: AsyncSession, row: UnitRow, count: dict[str, int]) -> None:
    community = await _get_or_create(session, Community, count, "community", name=row.community)
    grid = await _get_or_create(
        session, Grid, count, "grid", community_id=community.id, name=row.grid
    )
    building = (
        await session.exec(
            select(Building).where(
                Building.community_id == community.id, Building.number == row.building
            )
        )
    ).first()
    if building is None:
        building = Building(community_id=community.id, grid_id=grid.id, number=row.building)
        _bump(count, "building")
    building.grid_id = grid.id  # a re-import may move a building to another grid
    session.add(building)
    await session.flush()
    unit = (
        await session.exec(
            select(Unit).where(Unit.building_id == building.id, Unit.number == row.unit)
        )
    ).first()
    if unit is None:
        unit = Unit(building_id=building.id, number=row.unit, households=row.households)
        _bump(count, "unit")
    unit.households = row.households
    session.add(unit)
    await session.flush()
    if row.building_leader:
        await _set_leader(
            session, BUILDING_LEADER, "building", building.id,
            row.building_leader, row.building_leader_account, count,
        )
    if row.unit_leader:
        await _set_leader(
            session, UNIT_LEADER, "unit", unit.id, row.unit_leader, row.unit_leader_account, count
        )


async def _set_leader(
    session: AsyncSession,
    role: str,
    scope_kind: str,
    scope_id: int,
    name: str,
    account: str,
    count: dict[str, int],
) -> None:
    current = (
        await session.exec(
            select(RoleGrant).where(
                RoleGrant.role == role,
                RoleGrant.scope_kind == scope_kind,
                RoleGrant.scope_id == scope_id,
            )
        )
    ).all()
    person: Person | None = None
    if account:
        person = await ensure_person(session, account, name)
    else:
        # No account yet (bound later by invite code): reuse the same-named
        # leader already on this scope so a re-import does not duplicate people.
        for g in current:
            p = await session.get(Person, g.person_id)
            if p is not None and p.name == name:
                person = p
                break
        if person is None:
            person = Person(name=name)
            session.add(person)
            await session.flush()
            _bump(count, "person")
    if person.name != name:
        person.name = name
        session.add(person)
    for g in current:
        # The roster is the truth for roster-made leaders; manual grants stay.
        if g.person_id != person.id and g.granted_by == IMPORTED_BY:
            await session.delete(g)
    if not any(g.person_id == person.id for g in current):
        session.add(
            RoleGrant(
                person_id=person.id, role=role, scope_kind=scope_kind, scope_id=scope_id,
                granted_by=IMPORTED_BY,
            )
        )
        _bump(count, "grant")
    await session.flush()


async def _import_staff(session: AsyncSession, row: StaffRow, count: dict[str, int]) -> None:
    person = await ensure_person(session, row.account, row.name)
    if person.name != row.name:
        person.name = row.name
        session.add(person)
    roles = [STAFF] + ([ADMIN] if row.admin else [])
    for role in roles:
        exists = (
            await session.exec(
                select(RoleGrant).where(
                    RoleGrant.person_id == person.id, RoleGrant.role == role,
                    RoleGrant.scope_kind == "all",
                )
            )
        ).first()
        if exists is None:
            session.add(RoleGrant(person_id=person.id, role=role, granted_by=IMPORTED_BY))
            _bump(count, "grant")
    if not row.admin:
        stale = (
            await session.exec(
                select(RoleGrant).where(
                    RoleGrant.person_id == person.id, RoleGrant.role == ADMIN,
                    RoleGrant.granted_by == IMPORTED_BY,
                )
            )
        ).all()
        for g in stale:
            await session.delete(g)
    for team in row.teams:
        exists = (
            await session.exec(
                select(TeamMember).where(TeamMember.person_id == person.id, TeamMember.team == team)
            )
        ).first()
        if exists is None:
            session.add(TeamMember(person_id=person.id, team=team))
            _bump(count, "team")
    await session.flush()


@dataclass
class RosterPreview:
    """What applying a validated roster would change, shown before it is applied."""

    kind: str
    rows: int
    added: list[str] = field(default_factory=list)  # units (or staff accounts) new
    changed: list[str] = field(default_factory=list)  # households or grid that differ
    absent: list[str] = field(default_factory=list)  # in the database, not in the file: kept
    people: list[str] = field(default_factory=list)  # accounts not known yet


async def preview_rows(session: AsyncSession, kind: str, rows: list) -> RosterPreview:
    """The difference between the database and validated rows (nothing is written)."""
    known = set((await session.exec(select(Account.id))).all())
    out = RosterPreview(kind, len(rows))
    if kind == "staff":
        for r in rows:
            if r.account not in known:
                out.added.append(f"{r.name}（{r.account}）" + ("，管理员" if r.admin else ""))
                out.people.append(r.account)
        return out
    current = {
        (c, b, u): (g, h)
        for c, g, b, u, h in (await session.exec(
            select(Community.name, Grid.name, Building.number, Unit.number, Unit.households)
            .join(Building, col(Building.id) == Unit.building_id)
            .join(Community, col(Community.id) == Building.community_id)
            .join(Grid, col(Grid.id) == Building.grid_id)
        )).all()
    }
    in_file = set()
    for r in rows:
        key = (r.community, r.building, r.unit)
        in_file.add(key)
        label = f"{r.community}/{r.building}栋{r.unit}单元"
        if key not in current:
            out.added.append(f"{label}（{r.households}户）")
        elif current[key] != (r.grid, r.households):
            grid, households = current[key]
            out.changed.append(f"{label}：{grid}、{households}户 → {r.grid}、{r.households}户")
        for account in (r.building_leader_account, r.unit_leader_account):
            if account and account not in known and account not in out.people:
                out.people.append(account)
    communities = {r.community for r in rows}
    out.absent = [f"{c}/{b}栋{u}单元" for (c, b, u) in sorted(current)
                  if c in communities and (c, b, u) not in in_file]
    return out


def read_upload(data: bytes, filename: str) -> list[list[str]]:
    """An uploaded file's table (blocking: call it in a thread). XLSX by name, else CSV."""
    if filename.lower().endswith((".xlsx", ".xlsm")):
        from openpyxl import load_workbook

        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            return [["" if v is None else _cell(v) for v in row]
                    for row in wb.worksheets[0].iter_rows(values_only=True)]
        finally:
            wb.close()
    return parse_csv_text(data.decode("utf-8-sig"))


async def unit_roster(session: AsyncSession) -> list[list]:
    """The current unit roster in the import format (UNIT_HEADER first): what a
    re-import of it would leave unchanged."""
    units = (await session.exec(
        select(Community.name, Grid.name, Building.number, Unit.number, Unit.households,
               Building.id, Unit.id)
        .join(Building, col(Building.id) == Unit.building_id)
        .join(Community, col(Community.id) == Building.community_id)
        .join(Grid, col(Grid.id) == Building.grid_id)
        .order_by(Community.name, Building.number, Unit.number)
    )).all()
    leaders: dict[tuple[str, int], tuple[str, str]] = {}
    for kind, scope_id, name, account in (await session.exec(
        select(RoleGrant.scope_kind, RoleGrant.scope_id, Person.name, Account.id)
        .join(Person, col(Person.id) == RoleGrant.person_id)
        .outerjoin(Account, col(Account.person_id) == Person.id)
        .where(col(RoleGrant.role).in_((BUILDING_LEADER, UNIT_LEADER)),
               col(RoleGrant.scope_kind).in_(("building", "unit")))
        .order_by(col(RoleGrant.id))
    )).all():
        leaders.setdefault((kind, scope_id), (name, account or ""))
    rows: list[list] = [list(UNIT_HEADER)]
    for c, g, b, u, h, bid, uid in units:
        bl, bla = leaders.get(("building", bid), ("", ""))
        ul, ula = leaders.get(("unit", uid), ("", ""))
        rows.append([c, g, b, u, h, bl, bla, ul, ula])
    return rows
