"""The full duty record as an XLSX workbook (sheet 履职记录), one row per obligation.

Building and writing the workbook are blocking: ``write_workbook`` is a plain
function the caller runs in a thread. The file names people: it is created 0600
inside the 0700 exports directory (the retention job deletes old ones), and it
reaches people only through a one-time download link, never as a server path.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from openpyxl import Workbook

from ground.timeutil import local
from plugins.supervision.service import (
    CANCELLED,
    EXEMPT,
    LATE,
    MISSED,
    ON_TIME,
    Obligation,
    Period,
)
from storage.retention import exports_dir
from storage.sheets import safe_row, save_private

SHEET = "履职记录"
HEADER = [
    "类别", "事项", "社区", "网格", "单元或范围", "责任人", "角色", "到期时间", "完成时间",
    "结果", "逾期分钟", "提醒催办次数", "是否上报", "说明",
]  # fmt: skip
OUTCOME_LABELS = {
    ON_TIME: "按时", LATE: "逾期", MISSED: "未完成", EXEMPT: "免除", CANCELLED: "取消",
}


def _at(value: datetime | None) -> str:
    return local(value).strftime("%Y-%m-%d %H:%M") if value is not None else ""


def row_of(o: Obligation) -> list:
    """One obligation as the cells of its row (before ``safe_row``)."""
    return [
        o.kind, o.ref, o.community, o.grid, o.where, o.person, o.role, _at(o.due), _at(o.done),
        OUTCOME_LABELS.get(o.outcome, o.outcome), o.late_minutes, o.reminders,
        "是" if o.escalated else "否", o.note,
    ]


def file_name(period: Period, now: datetime) -> str:
    """Unique inside the exports directory (two runs in one second do not collide)."""
    end = local(period.end).date()
    return (f"supervision_{local(period.start):%Y%m%d}-{end:%Y%m%d}_"
            f"{local(now):%Y%m%d-%H%M%S}_{secrets.token_hex(4)}.xlsx")


def download_name(period: Period) -> str:
    return f"督查记录_{period.label}.xlsx"


def build_workbook(obligations: Sequence[Obligation]) -> Workbook:
    wb = Workbook()
    ws = wb.active
    ws.title = SHEET
    ws.append(HEADER)
    for o in obligations:
        ws.append(safe_row(row_of(o)))
    ws.freeze_panes = "A2"
    return wb


def write_workbook(data: Path, name: str, obligations: Sequence[Obligation]) -> Path:
    """Blocking: run with ``asyncio.to_thread``. Writes atomically, mode 0600."""
    return save_private(build_workbook(obligations), exports_dir(data) / name)
