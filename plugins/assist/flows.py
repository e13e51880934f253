"""What ``/协查`` does, from its argument text to what is said: list the open
协查函, register one (staff), or complete one (the 流调组 or staff).

The notices to the 流调组 (and to staff when a late letter is completed) are
queued in the write transaction that decides them; the scheduler is armed (or
disarmed) after the commit.
"""

from __future__ import annotations

from bot.kit import Out, Outcome, Sender, refusal, usage
from bot.permissions import STAFF_PERM, role_permission
from bot.runtime import Runtime
from plugins._common import targets
from plugins._common.lookups import origin_group as _origin
from plugins._common.push import push
from plugins.assist import jobs, service
from plugins.assist.service import AssistError
from storage.models import ChatGroup
from storage.repo import ADMIN, STAFF

# Staff open 协查函; the 流调组 (and staff) complete them.
ASSIST_PERM = role_permission(ADMIN, STAFF, targets.TRACING_TEAM)


def _without(to: targets.Targets, origin: ChatGroup | None) -> targets.Targets:
    """The chat the command came from gets the reply, not the push as well."""
    if origin is None:
        return to
    return targets.Targets([g for g in to.groups if g.id != origin.id], to.accounts)


async def assist_cmd(rt: Runtime, sender: Sender, text: str) -> Outcome:
    parsed = service.parse_assist(text)
    if parsed is None:
        return usage("assist")
    account = sender.account
    now = rt.now()
    try:
        if isinstance(parsed, service.ListOpen):
            async with rt.db.read() as s:
                tasks = await service.open_tasks(s)
            return Outcome([Out("assist/list", {
                "tasks": tasks[: service.LIST_LIMIT], "total": len(tasks), "now": now,
            })])
        origin = await _origin(rt, sender)
        if isinstance(parsed, service.Complete):
            async with rt.db.write() as s:
                done = await service.complete(
                    s, account=account, letter_no=parsed.letter_no, now=now
                )
                to = await targets.team(s, targets.TRACING_TEAM)
                if done.task.escalated_at is not None:  # staff heard it was late
                    to = to.merged(await targets.staff(s))
                notice = rt.renderer.render("assist/done", d=done, notice=True)
                await push(
                    rt, s, _without(to, origin), notice, source=jobs.source(done.task.id),  # type: ignore[arg-type]
                    fallback_superusers=False,
                )
            if rt.scheduler is not None:
                rt.scheduler.disarm(done.cancelled)
            return Outcome([Out("assist/done", {"d": done, "notice": False})])
        if not await sender.allowed(STAFF_PERM):  # the 流调组 completes, staff assign
            return Outcome([Out("common/refused")])
        async with rt.db.write() as s:
            created = await service.create(
                s, actor=account, letter_no=parsed.letter_no, note=parsed.note, now=now
            )
            to = await targets.team(s, targets.TRACING_TEAM)
            notice = rt.renderer.render("assist/new", t=created.task)
            await push(rt, s, _without(to, origin), notice, source=jobs.source(created.task.id),  # type: ignore[arg-type]
                       fallback_superusers=False)
    except AssistError as err:
        return refusal(err)
    if rt.scheduler is not None:  # else the next start's rebuild arms them
        for item in created.items:
            rt.scheduler.arm(item)
    return Outcome([Out("assist/created", {
        "t": created.task, "team_groups": len(to.groups), "team_accounts": len(to.accounts),
    })])
