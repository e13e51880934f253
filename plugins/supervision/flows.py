"""/督查: the duty record's summary for the 纪检监督组 and 管理员."""

from __future__ import annotations

from bot.kit import Out, Outcome, Sender, usage
from bot.runtime import Runtime
from plugins.supervision import service
from storage.repo import audit, group_binding

SUPERVISION_TEAM = "纪检监督组"


async def supervise_cmd(rt: Runtime, sender: Sender, text: str) -> Outcome:
    """``/督查 [本周|上周|本月|上月|<开始>至<结束>]``: on-time rates by community and
    grid, missed obligations, the people most often late or missing. Audited."""
    if sender.group_id is not None:  # names people: only the 纪检监督组's own group
        async with rt.db.read() as s:
            group = await group_binding(s, sender.platform, sender.group_id)
        if group is None or group.kind != "team" or group.team != SUPERVISION_TEAM:
            return Outcome([Out("supervision/where")])
    now = rt.now()
    period = service.parse_period(text, now)
    if period is None:
        return usage("supervise")
    async with rt.db.write() as s:
        obligations = await service.checkin_obligations(s, period, now)
        await audit(s, sender.account, "supervise",
                    f"{period.start.date()}..{period.end.date()} items={len(obligations)}",
                    at=now)
    return Outcome([Out("supervision/report", {"s": service.summarize(period, obligations)})])
