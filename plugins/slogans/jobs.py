"""What the scheduler runs for slogans: one ``slogan.rotate`` item per configured
time and day, ``ref_id`` = the time in minutes after local midnight.

Each firing queues the next day's item first, in the same transaction that
remembers every group's slogan and writes the outbox rows, so the chain never
breaks and a crash cannot half-rotate.
"""

from __future__ import annotations

import logging

from bot.runtime import Runtime
from bot.scheduler import Scheduler, SchedulerHooks, add_item, as_utc
from ground.timeutil import local
from plugins.slogans import service
from plugins.slogans.service import KIND_ROTATE
from storage.models import ScheduledItem
from storage.models_publicity import SloganTime

log = logging.getLogger("gridbot.slogans")


async def on_rotate(rt: Runtime, item: ScheduledItem) -> None:
    now = rt.now()
    async with rt.db.write() as s:
        if await s.get(SloganTime, item.ref_id) is None:
            return  # the time was removed; its item should have been cancelled with it
        after = max(as_utc(item.due_at), as_utc(now))
        following = await add_item(
            s, KIND_ROTATE, item.ref_id, service.next_occurrence(item.ref_id, after)
        )
        clock = local(now)
        if service.in_quiet_hours(clock.hour * 60 + clock.minute, rt.settings.quiet_hours):
            # Times are checked against quiet hours when set; the setting may have changed since.
            log.warning("slogan rotation at %s skipped: quiet hours", service.hhmm(item.ref_id))
            plan = []
        else:
            plan = await service.plan_rotation(s, now)
        for group, slogan in plan:
            text = rt.renderer.render("slogans/push", slogan=slogan)
            await rt.delivery.to_group(
                group, text, session=s, source=f"slogan:{slogan.id}", priority=service.PRIORITY
            )
    if not plan:
        log.info("slogan rotation at %s: nothing to send", service.hhmm(item.ref_id))
    if rt.scheduler is not None:
        rt.scheduler.arm(following)


async def ensure_rotation(rt: Runtime, scheduler: Scheduler) -> None:
    """At start: every rotation time has its next item queued (one may be missing
    after an outage longer than the scheduler's grace, which marks it missed)."""
    now = rt.now()
    async with rt.db.write() as s:
        items = [await service.ensure_item(s, m, now) for m in await service.rotation_minutes(s)]
    for item in items:
        scheduler.arm(item)


HOOKS = SchedulerHooks(handlers={KIND_ROTATE: on_rotate}, on_start=(ensure_rotation,))
