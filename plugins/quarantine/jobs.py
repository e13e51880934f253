"""What the scheduler runs for quarantine entries: the daily health-check
reminder (``quarantine.check``) and the end-date reminder (``quarantine.end``),
``ref_id`` = the entry's 编号, both private to the unit's leaders.

The messages are queued in the outbox in the handler's own transaction; an
entry released in the meantime has had its items cancelled, and one found
released anyway (a race with ``/隔离 解除``) sends nothing.
"""

from __future__ import annotations

from bot.runtime import Runtime
from bot.scheduler import SchedulerHooks
from plugins.quarantine import service
from plugins.quarantine.service import KIND_CHECK, KIND_END
from storage.models import ScheduledItem


async def _remind(rt: Runtime, item: ScheduledItem, template: str) -> None:
    async with rt.db.write() as s:
        found = await service.reminder(s, item, rt.now())
        if found is None:
            return
        text = rt.renderer.render(template, e=found.entry, day_no=found.day_no)
        for account in found.accounts:
            await rt.delivery.to_account(
                account, text, session=s, source=f"quarantine:{found.entry.id}"
            )


async def on_check(rt: Runtime, item: ScheduledItem) -> None:
    await _remind(rt, item, "quarantine/remind")


async def on_end(rt: Runtime, item: ScheduledItem) -> None:
    await _remind(rt, item, "quarantine/end")


HOOKS = SchedulerHooks(handlers={KIND_CHECK: on_check, KIND_END: on_end})
