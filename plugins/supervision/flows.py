"""/督查: the duty record's summary for the 纪检监督组 and 管理员, and the full record as
an XLSX behind a one-time download link (sent privately, never into a group)."""

from __future__ import annotations

import asyncio

from bot.kit import Out, Outcome, Sender, usage
from bot.runtime import Runtime
from plugins.supervision import export, service
from plugins.supervision.jobs import SUPERVISION_TEAM
from storage import console
from storage.repo import audit, group_binding

__all__ = ["SUPERVISION_TEAM", "supervise_cmd"]


async def supervise_cmd(rt: Runtime, sender: Sender, text: str) -> Outcome:
    """``/督查 [本周|上周|本月|上月|<开始>至<结束>]``: on-time rates by community and
    grid, missed obligations, the people most often late or missing, incidents,
    协查 and 预警 within their limits; the full record as a download link. Audited."""
    if sender.group_id is not None:  # names people: only the 纪检监督组's own group
        async with rt.db.read() as s:
            group = await group_binding(s, sender.platform, sender.group_id)
        if group is None or group.kind != "team" or group.team != SUPERVISION_TEAM:
            return Outcome([Out("supervision/where")])
    now = rt.now()
    period = service.parse_period(text, now)
    if period is None:
        return usage("supervise")
    minutes = rt.settings.incident_escalate_minutes
    async with rt.db.read() as s:
        record = await service.duty_record(s, period, now, incident_minutes=minutes)
    name = export.file_name(period, now)
    await asyncio.to_thread(export.write_workbook, rt.settings.db_url, name, record)
    async with rt.db.write() as s:
        token = await console.issue_link(
            s, sender.account, console.LINK_DOWNLOAD, now, path=name,
            label=export.download_name(period),
        )
        await audit(s, sender.account, "supervise",
                    f"{period.start.date()}..{period.end.date()} items={len(record)} "
                    f"file={name}", at=now)
    url = rt.settings.console_url(f"/console/download/{token}")
    summary = service.summarize(period, record, incident_minutes=minutes)
    hours = int(console.DOWNLOAD_TTL.total_seconds() // 3600)
    ctx = {"s": summary, "weekly": False, "late": False, "url": url, "hours": hours}
    if sender.group_id is None:
        return Outcome([Out("supervision/report", ctx | {"private": True, "sent": False})])
    # In the 纪检监督组 group: the summary there, the link privately (a link is one
    # person's: single use, and the file names people).
    return Outcome(
        [Out("supervision/report", ctx | {"private": False, "sent": True, "url": ""})],
        private=[(sender.account, Out("supervision/link",
                                           {"url": url, "period": period, "hours": hours}))],
        private_failed=Out("supervision/report",
                           ctx | {"private": False, "sent": False, "url": ""}),
    )
