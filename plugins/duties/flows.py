"""What each duty command does, from its argument text to what is said.

``/任务`` defines, lists or stops a recurring duty; ``/完成`` checks a unit in.
A flow returns an ``Outcome``; the scheduler is armed after the commit.
"""

from __future__ import annotations

from bot.kit import Out, Outcome, Sender, refusal, usage
from bot.runtime import Runtime
from plugins._common.lookups import origin_base as _base
from plugins.duties import service, syntax
from plugins.duties.service import DutyError
from storage import places
from storage.repo import ALL, ScopeError, resolve_scope, scope_label
from storage.repo import Scope as ResolvedScope

# --- /任务 -----------------------------------------------------------------------------------


async def duty_cmd(rt: Runtime, sender: Sender, text: str) -> Outcome:
    parsed = syntax.parse_duty(text)
    if parsed is None:
        return usage("duty")
    actor = sender.account
    now = rt.now()
    try:
        if isinstance(parsed, syntax.ListDuties):
            async with rt.db.read() as s:
                duties, total = await service.list_duties(s, now)
            return Outcome([Out("duties/list", {"duties": duties, "total": total})])
        if isinstance(parsed, syntax.StopDuty):
            async with rt.db.write() as s:
                duty, cancelled = await service.stop(s, actor=actor, number=parsed.number, now=now)
            if rt.scheduler is not None:
                rt.scheduler.disarm(cancelled)
            return Outcome([Out("duties/stopped", {"d": duty})])
        base = await _base(rt, sender)
        async with rt.db.write() as s:
            if parsed.scope is not None:
                scope = await resolve_scope(s, parsed.scope, base)
            elif base is not None and base[0] != "all":
                scope = ResolvedScope(base[0], (base[1],), await scope_label(s, *base))
            else:
                scope = ALL
            created = await service.create(
                s, actor=actor, args=parsed, scope=scope, now=now, quiet=rt.settings.quiet_hours
            )
    except (DutyError, ScopeError) as err:
        return refusal(err)
    if rt.scheduler is not None:  # else the next start's rebuild arms it
        rt.scheduler.arm(created.item)
    return Outcome([Out("duties/created", {
        "c": created, "hours": f"{service.chase_hours(rt.settings):g}",
    })])


# --- /完成 -----------------------------------------------------------------------------------


async def done_cmd(rt: Runtime, sender: Sender, text: str) -> Outcome:
    parsed = syntax.parse_done(text)
    if parsed is None:
        return usage("duty_done")
    account = sender.account
    now = rt.now()
    base = await _base(rt, sender)
    try:
        async with rt.db.write() as s:
            who = await places.standing(
                s, account, now, superuser=account in rt.settings.superusers
            )
            unit = await places.resolve_unit(s, parsed.unit, base) if parsed.unit else None
            done = await service.mark_done(s, who=who, number=parsed.number, unit=unit, now=now)
    except (DutyError, ScopeError) as err:
        return refusal(err)
    return Outcome([Out("duties/done", {"d": done})])
