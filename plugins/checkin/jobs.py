"""What the scheduler runs for check-ins: the 80 % reminder, the deadline
escalation and the daily opening of recurring rounds.

Handlers take the runtime and the claimed ``ScheduledItem`` (bot.scheduler
guarantees each runs at most once per item); they look everything else up by
``item.ref_id`` — no bot ids, no group ids baked into a job. What a handler
decides to say is queued in the outbox inside the same write transaction as
what it reads and changes (a round closed at its deadline commits with its
summary); the outbox delivers it, and waits for a bot to be connected.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.runtime import Runtime
from bot.scheduler import SchedulerHooks, add_item, settle_in
from ground.timeutil import SHANGHAI, as_utc
from plugins._common.rows import in_state
from plugins._common.starts import arm_on_start
from plugins.checkin import notify, service, spot
from plugins.checkin.service import KIND_DAILY, KIND_DEADLINE, KIND_REMIND, CheckinError
from storage.models import CheckinRound, RecurringRound, ScheduledItem
from storage.models_checkin import ITEM_PENDING, ROUND_OPEN

log = logging.getLogger("gridbot.checkin")
SCHEDULER_ACTOR = "scheduler"


async def on_remind(rt: Runtime, item: ScheduledItem) -> None:
    async with rt.db.write() as s:
        rnd = await in_state(s, CheckinRound, item.ref_id, ROUND_OPEN)
        if rnd is None:
            return
        chase = await notify.chase(s, rnd, rt.now(), automatic=True)
        if chase.orphans:
            log.warning("round #%s: %d unreported units have no work group",
                        rnd.id, len(chase.orphans))
        await notify.queue(rt, s, chase.pushes, source=notify.source_of(rnd.id))
        await settle_in(s, item)


async def on_deadline(rt: Runtime, item: ScheduledItem) -> None:
    cancelled: list[ScheduledItem] = []
    async with rt.db.write() as s:
        rnd = await in_state(s, CheckinRound, item.ref_id, ROUND_OPEN)
        if rnd is None:
            return
        pushes = await notify.staff_summary(s, rnd, rt.now(), "deadline")
        # Rendered before the round changes below: the summary is of the open round.
        await notify.queue(rt, s, pushes, source=notify.source_of(rnd.id))
        # A daily round ends at its window's close so tomorrow's one is unambiguous;
        # an ad-hoc round stays open for late reports until staff /结束 it.
        if rnd.recurring_id is not None:
            cancelled = await service.close_round(s, rnd, actor=SCHEDULER_ACTOR, now=rt.now())
        await settle_in(s, item)
    if rt.scheduler is not None:
        rt.scheduler.disarm(cancelled)


async def _tell_while_waiting(rt: Runtime, item: ScheduledItem, template: str, who) -> None:
    """An unanswered spot check: ``who(check)`` hears ``template`` privately."""
    async with rt.db.write() as s:
        waiting = await spot.pending(s, item.ref_id)
        if waiting is not None:
            await rt.delivery.to_account(
                who(waiting.check), rt.renderer.render(template, d=waiting),
                session=s, source=notify.source_of(waiting.round.id))
        await settle_in(s, item)


async def on_spot_remind(rt: Runtime, item: ScheduledItem) -> None:
    """Its checker is asked once more."""
    await _tell_while_waiting(rt, item, "checkin/spot_remind", lambda c: c.checker)


async def on_spot_escalate(rt: Runtime, item: ScheduledItem) -> None:
    """Still unanswered: whoever asked for the check hears of it."""
    await _tell_while_waiting(rt, item, "checkin/spot_escalated", lambda c: c.asked_by)


async def on_daily_open(rt: Runtime, item: ScheduledItem) -> None:
    now = rt.now()
    opened = None
    async with rt.db.write() as s:
        defn = await s.get(RecurringRound, item.ref_id)
        if defn is None or not defn.active:
            return
        # Queue tomorrow first, in this transaction: the chain never breaks.
        following = await add_item(s, KIND_DAILY, defn.id, service.next_open(defn, item.due_at))
        day = as_utc(item.due_at).astimezone(SHANGHAI).date()
        closes = service.local_at(day, defn.close_minute)
        if closes <= as_utc(now):
            log.warning("daily round %s of %s skipped: window already over", defn.id, day)
        else:
            try:
                async with s.begin_nested():
                    opened = await service.open_round(
                        s, actor=SCHEDULER_ACTOR, title=defn.title,
                        scope=service.scope_of(defn.scope_kind, defn.scope_ids, defn.scope_label),
                        deadline=closes, now=now, recurring_id=defn.id,
                    )
            except CheckinError as err:
                log.warning("daily round %s not opened: %s", defn.id, err.code)
        if opened is not None:
            await notify.queue(
                rt, s, await notify.announce_round(s, opened),
                source=notify.source_of(opened.round.id),
            )
    scheduler = rt.scheduler
    if scheduler is not None:
        scheduler.arm(following)
        for it in opened.items if opened else ():
            scheduler.arm(it)


async def queue_daily(s: AsyncSession, now: datetime) -> list[ScheduledItem]:
    """At start: every active daily definition has its next opening queued
    (one could be missing after a crash mid-run or a long outage)."""
    added: list[ScheduledItem] = []
    defs = (await s.exec(select(RecurringRound).where(RecurringRound.active == True))).all()  # noqa: E712
    for defn in defs:
        pending = (
            await s.exec(
                select(ScheduledItem.id).where(
                    ScheduledItem.kind == KIND_DAILY,
                    ScheduledItem.ref_id == defn.id,
                    ScheduledItem.state == ITEM_PENDING,
                )
            )
        ).first()
        if pending is None:
            item = await add_item(s, KIND_DAILY, defn.id, service.next_open(defn, now))
            # The same occurrence may exist but be settled (missed while a
            # crash left it claimed): it is still ahead of us, so queue it again.
            item.state = ITEM_PENDING
            s.add(item)
            added.append(item)
    return added


ensure_daily = arm_on_start(queue_daily)


HOOKS = SchedulerHooks(
    handlers={KIND_REMIND: on_remind, KIND_DEADLINE: on_deadline, KIND_DAILY: on_daily_open,
              spot.KIND_SPOT_REMIND: on_spot_remind, spot.KIND_SPOT_ESCALATE: on_spot_escalate},
    on_start=(ensure_daily,),
)
