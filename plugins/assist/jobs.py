"""What the scheduler runs for 协查函 (``ref_id`` = the task's id):
``assist.remind`` at +12/+20/+23 h to the 流调组, ``assist.overdue`` at +24 h
to the 流调组 and staff. Completing a task cancels its items; a handler that
finds it done (completed in the race with the timer) sends nothing."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.runtime import Runtime
from bot.scheduler import SchedulerHooks, as_utc
from plugins._common import targets
from plugins._common.push import push
from plugins._common.rows import in_state
from plugins.assist import service
from plugins.assist.service import KIND_OVERDUE, KIND_REMIND
from storage.models import ScheduledItem
from storage.models_deadlines import ASSIST_OPEN, AssistTask


def source(task_id: int) -> str:
    return f"assist:{task_id}"


async def on_remind(rt: Runtime, item: ScheduledItem) -> None:
    async with rt.db.write() as s:
        task = await in_state(s, AssistTask, item.ref_id, ASSIST_OPEN)
        if task is None:
            return
        text = rt.renderer.render(
            "assist/remind", t=task, hours_left=service.hours_left(task, item.due_at),
            late=item.late,
        )
        to = await targets.team(s, targets.TRACING_TEAM)
        await push(rt, s, to, text, source=source(item.ref_id))


async def on_overdue(rt: Runtime, item: ScheduledItem) -> None:
    async with rt.db.write() as s:
        task = await in_state(s, AssistTask, item.ref_id, ASSIST_OPEN)
        if task is None:
            return
        task.escalated_at = as_utc(rt.now())
        s.add(task)
        text = rt.renderer.render("assist/overdue", t=task, late=item.late)
        to = (await targets.team(s, targets.TRACING_TEAM)).merged(await targets.staff(s))
        await push(rt, s, to, text, source=source(item.ref_id))


async def describe(rt: Runtime, s: AsyncSession, item: ScheduledItem) -> str | None:
    task = await in_state(s, AssistTask, item.ref_id, ASSIST_OPEN)
    if task is None:
        return None  # done: nothing was lost
    return rt.renderer.render(
        "assist/describe", t=task, overdue=item.kind == KIND_OVERDUE,
        hours_left=service.hours_left(task, item.due_at),
    )


HOOKS = SchedulerHooks(
    handlers={KIND_REMIND: on_remind, KIND_OVERDUE: on_overdue},
    describe={KIND_REMIND: describe, KIND_OVERDUE: describe},
)
