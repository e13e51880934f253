"""Retention: a nightly purge of personal data past its lifetime (DESIGN.md §4),
and the nightly walk of the audit log's hash chain.

No commands: both run every night at 03:30 (Asia/Shanghai) through the scheduler;
operators can run them at once with `gridbot purge` and `gridbot audit verify`.
"""

from __future__ import annotations

import asyncio
import logging

from bot.kit import plugin_meta
from bot.runtime import Runtime
from bot.scheduler import Scheduler, SchedulerHooks, daily_at, ensure_recurring
from storage import auditchain
from storage.db import db_path
from storage.models import ScheduledItem
from storage.retention import purge

log = logging.getLogger("gridbot.retention")

KIND = "retention.purge"
NIGHTLY = daily_at(3 * 60 + 30)


async def run_purge(rt: Runtime, actor: str = "system") -> str:
    report = await purge(
        rt.db, data=rt.settings.data_path(), now=rt.now(),
        personal_days=rt.settings.retention_days,
        export_days=rt.settings.export_retention_days, actor=actor,
    )
    return report.line()


async def check_audit(rt: Runtime) -> auditchain.Verified | None:
    """The nightly walk of the audit chain: a clean head is recorded (a later cut of
    the tail then shows); a broken chain is told to the superusers, privately."""
    url = rt.settings.db_url
    if db_path(url) is None and rt.db.sqlite:  # an in-memory database: nothing kept
        return None
    result = await asyncio.to_thread(auditchain.verify, url)
    if result.broken is None:
        await asyncio.to_thread(auditchain.record_checkpoint, url, result, rt.now())
        return result
    log.error("audit chain broken: %s", result.broken.line())
    text = rt.renderer.render("ops/audit_broken", b=result.broken)
    async with rt.db.write() as s:
        for account in sorted(rt.settings.superusers):
            await rt.delivery.to_account(account, text, session=s, source="audit")
    return result


async def _on_due(rt: Runtime, item: ScheduledItem) -> None:
    await run_purge(rt)
    await check_audit(rt)


async def _ensure_nightly(rt: Runtime, scheduler: Scheduler) -> None:
    async with rt.db.write() as s:
        item = await ensure_recurring(s, KIND, 0, NIGHTLY, rt.now())
    if item is not None:
        scheduler.arm(item)


async def _recurrence(_rt: Runtime, _session, _ref_id: int):
    return NIGHTLY


__plugin_meta__ = plugin_meta(
    "retention", "Nightly purge of personal data past its retention period.",
    usage="", scheduler=SchedulerHooks(
        handlers={KIND: _on_due}, on_start=(_ensure_nightly,), recurring={KIND: _recurrence},
    ),
)
