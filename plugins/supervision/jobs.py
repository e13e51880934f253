"""The weekly 督查 report: ``supervision.weekly`` (``ref_id`` 0), by default every
Monday 09:00 Asia/Shanghai (``GRIDBOT_SUPERVISION_WEEKLY_DAY`` / ``_TIME``), to the
group(s) bound as team 纪检监督组 (its members privately when none is), through the
outbox.

Exactly once a week: the item's row is unique per (kind, ref, due), the scheduler
claims it before the handler runs, and the handler queues the report and settles
the item in one transaction. The kind is recurring every seven days: the next
week's item is queued with the claim, and after a downtime the overdue one runs
once, late. The start hook queues the next one when none is pending and replaces
one left from a different schedule (the settings changed).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.runtime import Runtime
from bot.scheduler import (
    Recurrence,
    Scheduler,
    SchedulerHooks,
    add_item,
    as_utc,
    settle_in,
)
from bot.settings import Settings
from ground.timeutil import SHANGHAI, local
from plugins._common import targets
from plugins._common.push import push
from plugins.supervision import service, signals
from storage.models import ScheduledItem
from storage.models_checkin import ITEM_CANCELLED, ITEM_PENDING
from storage.repo import SUPERVISION_TEAM, audit

log = logging.getLogger("gridbot.supervision")

KIND_WEEKLY = "supervision.weekly"
WEEKLY_REF = 0
WEEK = timedelta(days=7)


def weekly_minute(settings: Settings) -> int | None:
    """Minutes after local midnight of the weekly report; None = no weekly report."""
    at = settings.supervision_weekly_time
    if not at:
        return None
    hh, mm = at.split(":")
    return int(hh) * 60 + int(mm)


def on_schedule(settings: Settings, due: datetime) -> bool:
    minute = weekly_minute(settings)
    moment = local(due)
    return (minute is not None and moment.weekday() == settings.supervision_weekly_day
            and moment.hour * 60 + moment.minute == minute and moment.second == 0)


def next_weekly(settings: Settings, after: datetime) -> datetime | None:
    """The first weekly moment strictly after ``after`` (aware UTC)."""
    minute = weekly_minute(settings)
    if minute is None:
        return None
    day = local(after).date()
    day += timedelta(days=(settings.supervision_weekly_day - day.weekday()) % 7)
    for weeks in range(2):
        moment = datetime(day.year, day.month, day.day, minute // 60, minute % 60,
                          tzinfo=SHANGHAI) + weeks * WEEK
        if as_utc(moment) > as_utc(after):
            return as_utc(moment)
    raise AssertionError("unreachable: a weekly moment exists within two weeks")


async def _recurrence(rt: Runtime, _s: AsyncSession, _ref_id: int) -> Recurrence | None:
    # Seven days from the item's own due time (Asia/Shanghai has no DST).
    return Recurrence(every=WEEK) if weekly_minute(rt.settings) is not None else None


async def ensure_weekly(rt: Runtime, scheduler: Scheduler) -> None:
    """One pending weekly item on the configured schedule (start hook)."""
    settings, now = rt.settings, rt.now()
    armed: list[ScheduledItem] = []
    stale: list[ScheduledItem] = []
    async with rt.db.write() as s:
        pending = list((await s.exec(
            select(ScheduledItem).where(ScheduledItem.kind == KIND_WEEKLY,
                                        col(ScheduledItem.state) == ITEM_PENDING)
        )).all())
        for item in pending:
            if not on_schedule(settings, item.due_at):
                item.state = ITEM_CANCELLED
                s.add(item)
                stale.append(item)
        due = next_weekly(settings, now)
        if due is not None and len(stale) == len(pending):
            item = await add_item(s, KIND_WEEKLY, WEEKLY_REF, due)
            if item.state == ITEM_PENDING:
                armed.append(item)
    scheduler.disarm(stale)
    for item in armed:
        scheduler.arm(item)


async def on_weekly(rt: Runtime, item: ScheduledItem) -> None:
    """The report of the seven days before the item's day, whenever it runs."""
    period = service.week_before(item.due_at)
    minutes = rt.settings.incident_escalate_minutes
    async with rt.db.write() as s:
        record = await service.duty_record(s, period, rt.now(), incident_minutes=minutes,
                                           policy_hours=rt.settings.policy_remind_hours)
        flags = await signals.signals(s, period, rt.now(), signals.Thresholds.of(rt.settings))
        summary = service.summarize(period, record, incident_minutes=minutes, signals=flags)
        text = rt.renderer.render(
            "supervision/report", s=summary, weekly=True, late=item.late, private=False,
            url="", sent=False, hours=0,
        )
        to = await targets.team(s, SUPERVISION_TEAM)
        told = await push(rt, s, to, text, source=f"supervision:weekly:{item.id}",
                          fallback_superusers=False)
        if not told:
            log.warning("weekly supervision report: no %s group or member", SUPERVISION_TEAM)
        await audit(s, "scheduler", "supervise_weekly",
                    f"{period.start.date()}..{period.end.date()} items={len(record)} "
                    f"targets={told}", at=rt.now())
        await settle_in(s, item)


async def describe(rt: Runtime, _s: AsyncSession, item: ScheduledItem) -> str | None:
    return rt.renderer.render("supervision/describe", period=service.week_before(item.due_at))


HOOKS = SchedulerHooks(
    handlers={KIND_WEEKLY: on_weekly}, on_start=(ensure_weekly,),
    recurring={KIND_WEEKLY: _recurrence}, describe={KIND_WEEKLY: describe},
)
