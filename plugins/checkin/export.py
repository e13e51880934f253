"""/导出: the round as an XLSX workbook (sheets 报告, 未报 and 抽查).

Building the workbook and writing it are blocking, so ``write_workbook`` is a
plain function the caller runs in a thread. The file holds leaders' names and
accounts: it is created 0600 inside a 0700 directory next to the database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from openpyxl import Workbook

from ground.timeutil import local
from plugins.checkin import service, spot
from plugins.checkin.service import MissingUnit, ReportRow
from storage.db import Database
from storage.retention import exports_dir
from storage.sheets import safe_row, save_private

REPORT_SHEET = "报告"
MISSING_SHEET = "未报"
REPORT_HEADER = [
    "轮次", "标题", "社区", "网格", "楼栋", "单元", "登记户数", "已排查户数",
    "空置", "外出", "拒访", "返区", "隔离", "异常", "备注", "报告人", "报告账号", "报告时间",
    "提交次数",
]  # fmt: skip
MISSING_HEADER = ["轮次", "标题", "社区", "网格", "楼栋", "单元", "登记户数", "单元长", "楼长"]
SPOT_SHEET = "抽查"
SPOT_HEADER = ["轮次", "楼栋", "单元", "核实账号", "结果", "说明", "抽查时间", "核实时间"]


async def write_round(db: Database, data: Path, round_id: int, title: str,
                      now: datetime) -> Path:
    """The round's workbook as of now, written (in a thread) into the exports directory."""
    async with db.read() as s:
        reports = await service.current_reports(s, round_id)
        missing = await service.missing_units(s, round_id, now)
        checks = await spot.checks_of(s, round_id)
    return await asyncio.to_thread(
        write_workbook, export_path(data, round_id, now), round_id, title, reports, missing,
        checks,
    )


def export_dir(data: Path) -> Path:
    """Where workbooks go; the retention job deletes them from there."""
    return exports_dir(data)


def export_path(data: Path, round_id: int, now: datetime) -> Path:
    return export_dir(data) / f"round{round_id}_{local(now):%Y%m%d-%H%M%S}.xlsx"


def _at(value: datetime | None) -> str:
    return local(value).strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""


def build_workbook(
    round_id: int, title: str, reports: Sequence[ReportRow], missing: Sequence[MissingUnit],
    checks: Sequence[tuple] = (),
) -> Workbook:
    wb = Workbook()
    ws = wb.active
    ws.title = REPORT_SHEET
    ws.append(REPORT_HEADER)
    for r in reports:
        ws.append(safe_row([
            round_id, title, r.community, r.grid, f"{r.building}栋", f"{r.unit}单元",
            r.registered, r.households, r.vacant, r.away, r.refused,
            r.returned, r.isolated, r.abnormal,
            r.note, r.reporter_name, r.reporter,
            local(r.reported_at).strftime("%Y-%m-%d %H:%M:%S"), r.submissions,
        ]))
    ws2 = wb.create_sheet(MISSING_SHEET)
    ws2.append(MISSING_HEADER)
    for m in missing:
        ws2.append(safe_row([
            round_id, title, m.community, m.grid, f"{m.building}栋", f"{m.unit}单元", m.households,
            "、".join(ld.name for ld in m.leaders if ld.role == "单元长"),
            "、".join(ld.name for ld in m.leaders if ld.role == "楼长"),
        ]))
    ws3 = wb.create_sheet(SPOT_SHEET)
    ws3.append(SPOT_HEADER)
    for b, u, checker, verdict, note, asked_at, answered_at in checks:
        ws3.append(safe_row([round_id, f"{b}栋", f"{u}单元", checker, verdict or "待核实",
                             note, _at(asked_at), _at(answered_at)]))
    for sheet in (ws, ws2, ws3):
        sheet.freeze_panes = "A2"
    return wb


def write_workbook(
    path: Path,
    round_id: int,
    title: str,
    reports: Sequence[ReportRow],
    missing: Sequence[MissingUnit],
    checks: Sequence[tuple] = (),
) -> Path:
    """Blocking: run with ``asyncio.to_thread``. Writes atomically, mode 0600;
    returns the absolute path (what staff need to fetch the file)."""
    wb = build_workbook(round_id, title, reports, missing, checks)
    return save_private(wb, path).resolve()
