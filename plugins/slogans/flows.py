"""What ``/标语`` does, from its argument text to what is said (see ``bot.kit``).

The rotation itself runs from the scheduler (``jobs``); changing the times arms
and disarms its items after the commit.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.kit import Out, Outcome, Sender, refusal, usage
from bot.runtime import Runtime
from plugins.slogans import service
from plugins.slogans.service import SloganArgs, SloganError


async def slogan_cmd(rt: Runtime, sender: Sender, text: str) -> Outcome:
    parsed = service.parse_args(text)
    if parsed is None:
        return usage("slogan")
    try:
        return await _run(rt, sender, parsed)
    except SloganError as err:
        return refusal(err)


async def _next_at(rt: Runtime, s: AsyncSession) -> datetime | None:
    minutes = await service.rotation_minutes(s)
    now = rt.now()
    return min((service.next_occurrence(m, now) for m in minutes), default=None)


async def _run(rt: Runtime, sender: Sender, args: SloganArgs) -> Outcome:
    actor = sender.account
    now = rt.now()
    if args.action == "list":
        async with rt.db.read() as s:
            slogans = await service.active_slogans(s)
            times = [service.hhmm(m) for m in await service.rotation_minutes(s)]
            next_at = await _next_at(rt, s) if slogans else None
        return Outcome([Out("slogans/list", {
            "slogans": slogans, "times": times, "next_at": next_at,
        })])
    if args.action == "add":
        async with rt.db.write() as s:
            slogan = await service.add(s, actor=actor, text=args.text, now=now)
            total = len(await service.active_slogans(s))
            times = [service.hhmm(m) for m in await service.rotation_minutes(s)]
        return Outcome([Out("slogans/added", {"slogan": slogan, "total": total, "times": times})])
    if args.action == "delete":
        async with rt.db.write() as s:
            slogan, remaining = await service.delete(s, actor=actor, number=args.number, now=now)
        return Outcome([Out("slogans/deleted", {"slogan": slogan, "remaining": remaining})])
    async with rt.db.write() as s:
        changed = await service.set_times(
            s, actor=actor, minutes=args.minutes, now=now, quiet=rt.settings.quiet_hours
        )
        total = len(await service.active_slogans(s))
    if rt.scheduler is not None:  # else the next start's rebuild arms them
        rt.scheduler.disarm(changed.cancelled)
        for item in changed.armed:
            rt.scheduler.arm(item)
    return Outcome([Out("slogans/times", {
        "times": [service.hhmm(m) for m in changed.minutes],
        "next_at": min(i.due_at for i in changed.armed), "total": total,
    })])
