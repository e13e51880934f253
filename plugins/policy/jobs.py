"""What the scheduler runs for policies: the ``policy.remind`` item of a version
(``ref_id`` = its 编号), due ``policy_remind_hours`` after publication."""

from __future__ import annotations

import logging

from bot.runtime import Runtime
from bot.scheduler import SchedulerHooks
from plugins.policy import notify, service
from plugins.policy.service import KIND_REMIND
from storage.models import ScheduledItem
from storage.models_publicity import Policy

log = logging.getLogger("gridbot.policy")


async def on_remind(rt: Runtime, item: ScheduledItem) -> None:
    async with rt.db.write() as s:
        policy = await s.get(Policy, item.ref_id)
        if policy is None:
            return
        if await service.newer_version(s, policy) is not None:
            # Staff are asked to study the newest version; its own reminder follows.
            log.info("policy #%s superseded: no reminder", policy.id)
            return
        await notify.push_reminders(rt, s, policy, rt.now())


HOOKS = SchedulerHooks(handlers={KIND_REMIND: on_remind})
