"""名册 in the web console: upload a unit or staff roster (XLSX or CSV), see what it
would change (units added, changed, not in the file; people added; row errors by
row number), then apply it or discard it. The same validation and importer as
`gridbot import`, in one transaction: nothing is half-imported. The current unit
roster downloads as XLSX. A staff roster can make people 管理员: 管理员 only."""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from openpyxl import Workbook
from sqlalchemy import func
from sqlmodel import select

from bot.console import StaffView, Viewer, form_of, the_console
from bot.runtime import current_runtime
from ground.timeutil import local
from storage.importer import ImportError_, import_rows, preview_rows, read_upload, unit_roster
from storage.importer import validate as validate_table
from storage.models import Account, Building, Community, Unit
from storage.repo import audit
from storage.retention import exports_dir
from storage.sheets import safe_row, save_private

router = APIRouter()
MAX_UPLOAD = 5 * 1024 * 1024
STAGE_S = 30 * 60  # an upload waits this long for 应用 or 放弃


@dataclass
class Staged:
    account: str
    kind: str
    rows: list
    filename: str
    expires: float


# Uploads waiting for 应用: in memory, so a restart only means uploading again.
_staged: dict[str, Staged] = {}


def _take(token: str, account: str) -> Staged | None:
    now = time.monotonic()
    for key in [k for k, v in _staged.items() if v.expires < now]:
        del _staged[key]
    staged = _staged.get(token)
    if staged is None or staged.account != account:
        return None
    return _staged.pop(token)


async def _counts() -> dict[str, int]:
    rt = current_runtime()
    async with rt.db.read() as s:
        return {
            name: (await s.exec(select(func.count()).select_from(model))).one()
            for name, model in (("communities", Community), ("buildings", Building),
                                ("units", Unit), ("accounts", Account))
        }


async def _roster_page(request: Request, viewer: Viewer, notice: str = "",
                       errors: list | None = None, status: int = 200) -> Response:
    """The 名册 page, with a notice (its code: the template says it) and row errors."""
    return the_console().page(request, viewer, "roster", counts=await _counts(),
                              notice=notice, errors=errors or [], status=status)


@router.get("/roster")
async def roster_page(request: Request, viewer: Viewer = StaffView) -> Response:
    return await _roster_page(request, viewer)


@router.post("/roster/preview")
async def roster_preview(request: Request, viewer: Viewer = StaffView) -> Response:
    form = await form_of(request, viewer)
    upload = form.get("file")
    if upload is None or not hasattr(upload, "read") or not upload.filename:
        return await _roster_page(request, viewer, "no_file", status=400)
    data = await upload.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        return await _roster_page(request, viewer, "too_big", status=400)
    try:
        table = await asyncio.to_thread(read_upload, data, upload.filename)
        kind, rows = validate_table(table)
    except ImportError_ as err:
        return await _roster_page(request, viewer, "bad_rows", err.errors, status=400)
    except Exception:  # not a spreadsheet, not UTF-8, …
        return await _roster_page(request, viewer, "unreadable", status=400)
    if kind == "staff" and not viewer.at_least("admin"):
        return await _roster_page(request, viewer, "staff_for_admins", status=400)
    rt = current_runtime()
    async with rt.db.read() as s:
        preview = await preview_rows(s, kind, rows)
    token = secrets.token_urlsafe(16)
    _staged[token] = Staged(viewer.account, kind, rows, upload.filename,
                            time.monotonic() + STAGE_S)
    return the_console().page(request, viewer, "roster_preview", p=preview, stage=token,
                              filename=upload.filename)


@router.post("/roster/apply")
async def roster_apply(request: Request, viewer: Viewer = StaffView) -> Response:
    form = await form_of(request, viewer)
    staged = _take(str(form.get("stage", "")), viewer.account)
    if staged is None:
        return await _roster_page(request, viewer, "stage_gone", status=400)
    rt = current_runtime()
    async with rt.db.write() as s:
        report = await import_rows(s, staged.kind, staged.rows, actor=viewer.account)
        await audit(s, viewer.account, "console_roster_apply",
                    f"{staged.kind} rows={len(staged.rows)}", at=rt.now())
    await rt.db.refresh_statistics()
    return the_console().page(request, viewer, "roster_applied", report=report)


@router.post("/roster/discard")
async def roster_discard(request: Request, viewer: Viewer = StaffView) -> Response:
    form = await form_of(request, viewer)
    _take(str(form.get("stage", "")), viewer.account)
    return await _roster_page(request, viewer, "discarded")


def _write_roster(path, rows: list[list]) -> None:
    wb = Workbook()
    ws = wb.active
    ws.title = "名册"
    for row in rows:
        ws.append(safe_row(row))
    save_private(wb, path)


@router.get("/roster/download")
async def roster_download(request: Request, viewer: Viewer = StaffView) -> Response:
    """The unit roster as XLSX, in the import format (names leaders: audited)."""
    rt = current_runtime()
    async with rt.db.read() as s:
        rows = await unit_roster(s)
    now = rt.now()
    path = exports_dir(rt.settings.data_path()) / f"roster_{local(now):%Y%m%d-%H%M%S}.xlsx"
    await asyncio.to_thread(_write_roster, path, rows)
    async with rt.db.write() as s:
        await audit(s, viewer.account, "console_roster_download", f"units={len(rows) - 1}",
                    at=now)
    return FileResponse(path, filename=path.name, headers={"Cache-Control": "no-store"})
