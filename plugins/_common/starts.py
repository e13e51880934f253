"""Scheduler start hooks that queue what should be pending, then arm it.

A recurring definition (a duty, a daily reminder, a daily check-in round) must
always have its next occurrence queued; one can be missing after a crash
mid-run or an outage longer than the scheduler's grace.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.runtime import Runtime
from bot.scheduler import Scheduler, StartHook
from storage.models import ScheduledItem

Ensure = Callable[[AsyncSession, datetime], Awaitable[Iterable[ScheduledItem]]]


def arm_on_start(ensure: Ensure) -> StartHook:
    """The start hook: ``ensure(session, now)`` queues the missing items in one
    write transaction and returns them; their timers are armed after the commit."""

    async def on_start(rt: Runtime, scheduler: Scheduler) -> None:
        async with rt.db.write() as s:
            added = list(await ensure(s, rt.now()))
        for item in added:
            scheduler.arm(item)

    on_start.__doc__ = ensure.__doc__
    return on_start
