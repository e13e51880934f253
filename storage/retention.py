"""Retention (DESIGN.md §4): personal data has a lifetime and a deletion path.

After `personal_days`, closed records keep only what statistics need: a
released quarantine loses its name and room, its health checks their symptom
text; a closed incident loses its room, note and result; check-in notes are
cleared; settled outbox rows (their texts name leaders) are deleted. Exported
workbooks are deleted after `export_days`. Every run is audited with counts.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, or_
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from ground.timeutil import local
from storage.db import Database
from storage.models_checkin import CheckinReport
from storage.models_events import HealthCheck, Incident, Quarantine
from storage.models_outbox import OUT_FINAL, OutboxItem
from storage.repo import audit


@dataclass
class PurgeReport:
    counts: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items())) or "nothing"


async def purge_records(session: AsyncSession, *, now: datetime, personal_days: int) -> PurgeReport:
    """Anonymise or delete what is older than the retention period (caller's transaction)."""
    cutoff = now - timedelta(days=personal_days)
    cutoff_day = local(cutoff).date()
    report = PurgeReport()
    old_q = select(Quarantine.id).where(
        or_(col(Quarantine.released_at) < cutoff, col(Quarantine.end_date) < cutoff_day),
        or_(col(Quarantine.name) != "", col(Quarantine.room) != ""),
    )
    ids = list((await session.exec(old_q)).all())
    if ids:
        await session.exec(
            update(Quarantine).where(col(Quarantine.id).in_(ids)).values(name="", room="")
        )
        hc = await session.exec(
            update(HealthCheck)
            .where(col(HealthCheck.quarantine_id).in_(ids), col(HealthCheck.symptoms) != "")
            .values(symptoms="")
        )
        report.counts["health checks"] = hc.rowcount or 0
    report.counts["quarantine entries"] = len(ids)
    inc = await session.exec(
        update(Incident)
        .where(
            col(Incident.closed_at) < cutoff,
            or_(col(Incident.room) != "", col(Incident.note) != "", col(Incident.result) != ""),
        )
        .values(room="", note="", result="")
    )
    report.counts["incidents"] = inc.rowcount or 0
    notes = await session.exec(
        update(CheckinReport)
        .where(col(CheckinReport.reported_at) < cutoff, col(CheckinReport.note) != "")
        .values(note="")
    )
    report.counts["check-in notes"] = notes.rowcount or 0
    out = await session.exec(
        delete(OutboxItem).where(
            col(OutboxItem.state).in_(OUT_FINAL), col(OutboxItem.created_at) < cutoff
        )
    )
    report.counts["outbox rows"] = out.rowcount or 0
    return report


def exports_dir(data: Path) -> Path:
    """``exports/`` in the data directory (``Settings.data_path()``)."""
    return data / "exports"


def purge_exports(directory: Path, *, now: float | None = None, export_days: int) -> int:
    """Delete exported workbooks older than `export_days` (blocking: run in a thread)."""
    if not directory.is_dir():
        return 0
    limit = (now if now is not None else time.time()) - export_days * 86400
    removed = 0
    for path in directory.glob("*.xlsx"):
        if path.stat().st_mtime < limit:
            os.unlink(path)
            removed += 1
    return removed


async def purge(
    db: Database, *, data: Path, now: datetime, personal_days: int, export_days: int,
    actor: str,
) -> PurgeReport:
    """The whole deletion path in one audited transaction (nightly job and `gridbot purge`)."""
    async with db.write() as s:
        report = await purge_records(s, now=now, personal_days=personal_days)
        report.counts["exports"] = await asyncio.to_thread(
            purge_exports, exports_dir(data), now=now.timestamp(), export_days=export_days
        )
        await audit(s, actor, "purge", report.line(), at=now)
    return report
