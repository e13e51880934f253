"""Retention: a nightly purge of personal data past its lifetime (DESIGN.md §4).

No commands: the purge runs every night at 03:30 (Asia/Shanghai) through the
scheduler, and operators can run it at once with `gridbot purge`.
"""

from __future__ import annotations

from bot.kit import plugin_meta
from bot.runtime import Runtime
from bot.scheduler import Scheduler, SchedulerHooks, daily_at, ensure_recurring
from storage.models import ScheduledItem
from storage.retention import purge

KIND = "retention.purge"
NIGHTLY = daily_at(3 * 60 + 30)


async def run_purge(rt: Runtime, actor: str = "system") -> str:
    report = await purge(
        rt.db, db_url=rt.settings.db_url, now=rt.now(),
        personal_days=rt.settings.retention_days,
        export_days=rt.settings.export_retention_days, actor=actor,
    )
    return report.line()


async def _on_due(rt: Runtime, item: ScheduledItem) -> None:
    await run_purge(rt)


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
