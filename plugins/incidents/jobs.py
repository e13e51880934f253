"""What the scheduler runs for incidents: ``incident.escalate`` (``ref_id`` = the
incident's 编号), due ``incident_escalate_minutes`` after the report.

Acknowledging cancels the item; an incident acknowledged in the race between
the timer and the claim is checked again here and escalates nothing.
"""

from __future__ import annotations

from bot.runtime import Runtime
from bot.scheduler import SchedulerHooks
from plugins.incidents import service
from plugins.incidents.service import KIND_ESCALATE
from storage.models import ScheduledItem


async def on_escalate(rt: Runtime, item: ScheduledItem) -> None:
    async with rt.db.write() as s:
        found = await service.escalate(s, item.ref_id, rt.now())
        if found is None:
            return
        text = rt.renderer.render("incidents/escalated", i=found.incident)
        source = f"incident:{item.ref_id}"
        for group in found.groups:
            await rt.delivery.to_group(group, text, session=s, source=source, priority=1)
        for account in found.accounts:
            await rt.delivery.to_account(account, text, session=s, source=source, priority=1)


HOOKS = SchedulerHooks(handlers={KIND_ESCALATE: on_escalate})
