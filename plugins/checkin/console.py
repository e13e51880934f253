"""排查 in the web console: open rounds' coverage on 概览, a round's page (coverage
by grid and building, unreported units with their leaders, each unit's history)
refreshed without reloads, and the XLSX download. A leader sees their own units."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from sqlmodel import col, select

from bot.console import LeaderView, StaffView, Viewer, the_console
from bot.runtime import Runtime, current_runtime
from ground.timeutil import as_utc
from plugins.checkin import export, service, tally
from storage.models import (
    Building,
    CheckinReport,
    CheckinRound,
    CheckinRoundUnit,
    Grid,
    Unit,
)
from storage.places import Place, place_of
from storage.repo import audit

router = APIRouter()
RECENT_ROUNDS = 20


@dataclass
class Figure:
    """Coverage of some units of a round."""

    label: str
    units: int = 0
    reported: int = 0
    registered: int = 0
    covered: int = 0

    def add(self, t: tally.Tally) -> None:
        self.units += t.units
        self.reported += t.reported
        self.registered += t.registered
        self.covered += t.covered

    @property
    def share(self) -> int:
        return self.covered * 100 // self.registered if self.registered else 100


@dataclass
class RoundView:
    rnd: CheckinRound
    total: Figure
    grids: list[Figure]
    buildings: list[Figure]
    overdue: bool

    @property
    def chart(self) -> dict:
        """What the page's ECharts bar charts draw (data only; the library draws)."""
        return {
            "grid": [[f.label, f.covered, f.registered - f.covered] for f in self.grids],
            "building": [[f.label, f.covered, f.registered - f.covered] for f in self.buildings],
        }


async def _visible_round(rt: Runtime, viewer: Viewer, round_id: int) -> RoundView | None:
    """The round as the viewer may see it (their units only), or None."""
    async with rt.db.read() as s:
        rnd = await s.get(CheckinRound, round_id)
        if rnd is None:
            return None
        units = (await s.exec(select(CheckinRoundUnit).where(
            CheckinRoundUnit.round_id == round_id))).all()
        seen = {ru.unit_id: ru for ru in units if viewer.sees(Place.of(ru))}
        if not seen:
            return None
        per_unit = [t for t in await tally.rollup(s, round_id, "unit") if t.key in seen]
        grids = dict((await s.exec(select(Grid.id, Grid.name).where(
            col(Grid.id).in_({ru.grid_id for ru in seen.values()})))).all())
        buildings = dict((await s.exec(select(Building.id, Building.number).where(
            col(Building.id).in_({ru.building_id for ru in seen.values()})))).all())
    total = Figure("全部")
    by_grid: dict[int, Figure] = defaultdict(lambda: Figure(""))
    by_building: dict[int, Figure] = defaultdict(lambda: Figure(""))
    for t in per_unit:
        ru = seen[t.key]
        total.add(t)
        by_grid[ru.grid_id].add(t)
        by_building[ru.building_id].add(t)
    for gid, f in by_grid.items():
        f.label = grids.get(gid, "")
    for bid, f in by_building.items():
        f.label = f"{buildings.get(bid, '')}栋"
    overdue = rnd.state == "open" and as_utc(rnd.deadline) < as_utc(rt.now())
    return RoundView(
        rnd, total, sorted(by_grid.values(), key=lambda f: f.label),
        [by_building[b] for b in sorted(by_building, key=lambda b: buildings.get(b, 0))],
        overdue,
    )


async def rounds_card(rt: Runtime, viewer: Viewer, now: datetime) -> tuple[str, dict] | None:
    async with rt.db.read() as s:
        ids = (await s.exec(select(CheckinRound.id).where(CheckinRound.state == "open")
                            .order_by(CheckinRound.deadline))).all()
    views = [v for i in ids if (v := await _visible_round(rt, viewer, i)) is not None]
    missing = 0
    for v in views:
        if v.overdue:
            missing += v.total.units - v.total.reported
    return "cards/rounds", {"rounds": views, "overdue_units": missing}


@router.get("/rounds")
async def rounds_page(request: Request, viewer: Viewer = LeaderView) -> Response:
    rt = current_runtime()
    async with rt.db.read() as s:
        ids = (await s.exec(select(CheckinRound.id).order_by(
            col(CheckinRound.state).desc(), col(CheckinRound.id).desc())
            .limit(RECENT_ROUNDS))).all()
    views = [v for i in ids if (v := await _visible_round(rt, viewer, i)) is not None]
    return the_console().page(request, viewer, "rounds", rounds=views)


async def _live_part(rt: Runtime, viewer: Viewer, round_id: int) -> dict | None:
    """What the round page refreshes: the figures, the charts, the unreported units."""
    view = await _visible_round(rt, viewer, round_id)
    if view is None:
        return None
    async with rt.db.read() as s:
        missing = [m for m in await service.missing_units(s, round_id, rt.now())
                   if viewer.sees(m.place)]
    return {"v": view, "missing": missing}


@router.get("/rounds/{round_id}")
async def round_page(request: Request, round_id: int, viewer: Viewer = LeaderView) -> Response:
    rt = current_runtime()
    live = await _live_part(rt, viewer, round_id)
    if live is None:
        return the_console().page(request, viewer, "not_found", status=404)
    async with rt.db.read() as s:
        reported = await _reported_units(s, round_id, viewer)
    return the_console().page(request, viewer, "round", reported=reported, **live)


@router.get("/rounds/{round_id}/live")
async def round_live(request: Request, round_id: int, viewer: Viewer = LeaderView) -> Response:
    """The live part of the round page, polled by the page (htmx) every few seconds."""
    live = await _live_part(current_runtime(), viewer, round_id)
    if live is None:
        return the_console().fragment("fragments/gone")
    return the_console().fragment("fragments/round_figures", **live)


async def _reported_units(s, round_id: int, viewer: Viewer) -> list[tuple]:
    rows = (await s.exec(
        select(CheckinRoundUnit, Building.number, Unit.number)
        .join(Unit, col(Unit.id) == CheckinRoundUnit.unit_id)
        .join(Building, col(Building.id) == CheckinRoundUnit.building_id)
        .where(CheckinRoundUnit.round_id == round_id)
        .order_by(Building.number, Unit.number))).all()
    return [(ru.unit_id, f"{b}栋{u}单元") for ru, b, u in rows if viewer.sees(Place.of(ru))]


@router.get("/rounds/{round_id}/units/{unit_id}")
async def unit_history(request: Request, round_id: int, unit_id: int,
                       viewer: Viewer = LeaderView) -> Response:
    """Every report of one unit in the round, amendments and withdrawals included."""
    rt = current_runtime()
    async with rt.db.read() as s:
        rnd = await s.get(CheckinRound, round_id)
        ru = await s.get(CheckinRoundUnit, (round_id, unit_id))
        if rnd is None or ru is None or not viewer.sees(Place.of(ru)):
            return the_console().page(request, viewer, "not_found", status=404)
        place = await place_of(s, unit_id)
        label = place.label if place is not None else ""
        history = (await s.exec(select(CheckinReport).where(
            CheckinReport.round_id == round_id, CheckinReport.unit_id == unit_id)
            .order_by(col(CheckinReport.id)))).all()
    return the_console().page(request, viewer, "unit_history", rnd=rnd, label=label,
                              households=ru.households, history=history)


@router.get("/rounds/{round_id}/export")
async def round_export(request: Request, round_id: int, viewer: Viewer = StaffView) -> Response:
    """The round's workbook, as /导出 builds it; audited."""
    rt = current_runtime()
    view = await _visible_round(rt, viewer, round_id)
    if view is None:  # as /导出: staff export the rounds they can see
        return the_console().page(request, viewer, "not_found", status=404)
    path = await export.write_round(rt.db, rt.settings.data_path(), round_id, view.rnd.title,
                                    rt.now())
    async with rt.db.write() as s:
        await audit(s, viewer.account, "console_export", f"#{round_id} file={path.name}",
                    at=rt.now(), subject=("round", round_id))
    return FileResponse(path, filename=path.name, headers={"Cache-Control": "no-store"})
