"""What the scheduler runs for duties: ``duty.occur`` (``ref_id`` = the duty's
编号) creates an occurrence, announces it and queues the next one and the
day's laggard reminder; ``duty.chase`` (``ref_id`` = the occurrence) @-mentions
the leaders of units not done yet — once, since an item fires once.
"""

from __future__ import annotations

from bot.runtime import Runtime
from bot.scheduler import SchedulerHooks, add_item, as_utc
from plugins._common.starts import arm_on_start
from plugins.duties import service
from plugins.duties.service import KIND_CHASE, KIND_OCCUR
from storage.models import ScheduledItem
from storage.models_events import Duty


async def on_occur(rt: Runtime, item: ScheduledItem) -> None:
    now = rt.now()
    armed: list[ScheduledItem] = []
    async with rt.db.write() as s:
        duty = await s.get(Duty, item.ref_id)
        if duty is None or not duty.active:
            return
        # Queue the next occurrence first, in this transaction: the chain never breaks.
        after = max(as_utc(item.due_at), as_utc(now))
        armed.append(await add_item(s, KIND_OCCUR, item.ref_id, service.duty_next(duty, after)))
        opened = await service.open_occurrence(
            s, duty, item.due_at, now, service.chase_hours(rt.settings)
        )
        if opened is not None:
            if opened.chase is not None:
                armed.append(opened.chase)
            text = rt.renderer.render("duties/occurrence", o=opened)
            for group in await service.announce_targets(s, opened):
                await rt.delivery.to_group(
                    group, text, session=s, source=f"duty:{opened.occurrence.id}"
                )
    if rt.scheduler is not None:
        for it in armed:
            rt.scheduler.arm(it)


async def on_chase(rt: Runtime, item: ScheduledItem) -> None:
    async with rt.db.write() as s:
        chase = await service.chase(s, item.ref_id, rt.now())
        for push in chase.pushes:
            text = rt.renderer.render("duties/chase", c=chase, p=push)
            await rt.delivery.to_group(
                push.group, text, push.mentions, session=s, source=f"duty:{item.ref_id}"
            )


ensure_occurrences = arm_on_start(service.ensure_items)


HOOKS = SchedulerHooks(
    handlers={KIND_OCCUR: on_occur, KIND_CHASE: on_chase}, on_start=(ensure_occurrences,)
)
