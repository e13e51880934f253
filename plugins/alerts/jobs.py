"""What the scheduler runs for the trigger chain (``ref_id`` = the alert's 编号):

- ``alert.ack_remind`` (+1 h 30 min): the work groups still silent are reminded;
- ``alert.ack_deadline`` (+2 h): silent groups are escalated to the 综合协调组;
- ``alert.round_deadline`` (+48 h): units still unreported in the round are
  escalated to the 综合协调组 (the round's own 80 % reminder and deadline
  summary are the check-in plugin's).

The last acknowledgement cancels the first two; a handler that finds nothing
left to do (everyone acknowledged in the race with the timer) sends nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.runtime import Runtime
from bot.scheduler import SchedulerHooks, as_utc
from plugins._common import targets
from plugins._common.push import push
from plugins.alerts import service
from plugins.alerts.service import KIND_ACK_DEADLINE, KIND_ACK_REMIND, KIND_ROUND_DEADLINE
from storage.models import ScheduledItem
from storage.models_deadlines import Alert


def source(alert_id: int) -> str:
    return f"alert:{alert_id}"


def minutes_left(deadline: datetime, now: datetime) -> int:
    return max(0, int((as_utc(deadline) - as_utc(now)).total_seconds() // 60))


async def on_ack_remind(rt: Runtime, item: ScheduledItem) -> None:
    async with rt.db.write() as s:
        found = await service.silent_groups(s, item.ref_id)
        if found is None or not found.groups:
            return
        text = rt.renderer.render(
            "alerts/ack_remind", a=found.alert, late=item.late,
            minutes_left=minutes_left(found.alert.ack_deadline, rt.now()),
        )
        for group in found.groups:
            await rt.delivery.to_group(
                group, text, session=s, source=source(item.ref_id), priority=1
            )


async def on_ack_deadline(rt: Runtime, item: ScheduledItem) -> None:
    async with rt.db.write() as s:
        found = await service.silent_groups(s, item.ref_id)
        if found is None or not found.acks:
            return
        found.alert.escalated_at = as_utc(rt.now())
        s.add(found.alert)
        text = rt.renderer.render(
            "alerts/escalated", a=found.alert, silent=[a.label for a in found.acks],
            total=found.total, late=item.late,
        )
        to = await targets.team(s, targets.COORDINATION_TEAM)
        await push(rt, s, to, text, source=source(item.ref_id))


async def on_round_deadline(rt: Runtime, item: ScheduledItem) -> None:
    async with rt.db.write() as s:
        state = await service.round_state(s, item.ref_id, rt.now())
        if state is None or not state.missing:
            return
        text = rt.renderer.render(
            "alerts/round_overdue", a=state.alert, rnd=state.round,
            missing=state.missing[: service.UNIT_LIST_LIMIT], missing_total=len(state.missing),
            units=state.units, late=item.late,
        )
        to = await targets.team(s, targets.COORDINATION_TEAM)
        await push(rt, s, to, text, source=source(item.ref_id))


async def describe(rt: Runtime, s: AsyncSession, item: ScheduledItem) -> str | None:
    alert = await s.get(Alert, item.ref_id)
    if alert is None:
        return None
    if item.kind in service.ACK_KINDS and not await service.silent(s, item.ref_id):
        return None  # everyone acknowledged: nothing was lost
    return rt.renderer.render("alerts/describe", a=alert, kind=item.kind.split(".", 1)[1])


HOOKS = SchedulerHooks(
    handlers={
        KIND_ACK_REMIND: on_ack_remind,
        KIND_ACK_DEADLINE: on_ack_deadline,
        KIND_ROUND_DEADLINE: on_round_deadline,
    },
    describe={kind: describe for kind in service.KINDS},
)
