"""/督查: the duty record's summary for the 纪检监督组 and 管理员, and the full record as
an XLSX behind a one-time download link (sent privately, never into a group)."""

from __future__ import annotations

import asyncio
from datetime import datetime

from bot.kit import Out, Outcome, Sender, usage
from bot.runtime import Runtime
from ground.grammar import parse_scope
from plugins.supervision import export, service, signals
from plugins.supervision.jobs import SUPERVISION_TEAM
from storage import console
from storage.repo import ALL, Scope, ScopeError, audit, group_binding, resolve_scope

__all__ = ["SUPERVISION_TEAM", "look", "supervise_cmd"]


async def scope_of(rt: Runtime, text: str) -> Scope | None:
    """The scope named (全部 when ``text`` is empty), or None when it does not parse or
    names no place of the roster."""
    if not text.strip():
        return ALL
    expr = parse_scope(text)
    if expr is None:
        return None
    try:
        async with rt.db.read() as s:
            return await resolve_scope(s, expr)
    except ScopeError:
        return None


async def look(
    rt: Runtime, period: service.Period, scope: Scope, now: datetime,
) -> tuple[list[service.Obligation], service.Summary]:
    """The record of the period within the scope and its summary with the 需核实
    signals: what /督查 and the console's 督查 page show alike."""
    minutes = rt.settings.incident_escalate_minutes
    async with rt.db.read() as s:
        record = await service.duty_record(
            s, period, now, incident_minutes=minutes, scope=scope,
            policy_hours=rt.settings.policy_remind_hours)
        flags = await signals.signals(s, period, now, signals.Thresholds.of(rt.settings),
                                      scope)
    summary = service.summarize(period, record, incident_minutes=minutes,
                                scope=scope.label if scope.kind != "all" else "",
                                signals=flags)
    return record, summary


async def supervise_cmd(rt: Runtime, sender: Sender, text: str) -> Outcome:
    """``/督查 [本周|上周|本月|上月|<开始>至<结束>] [范围]``: on-time rates by community
    and grid, missed obligations, the people most often late or missing, incidents,
    协查 and 预警 within their limits, the 需核实 signals; the full record as a download
    link. Within a scope (``幸福社区``, ``幸福社区/第一网格``) only its obligations count.
    Audited."""
    if sender.group_id is not None:  # names people: only the 纪检监督组's own group
        async with rt.db.read() as s:
            group = await group_binding(s, sender.platform, sender.group_id)
        if group is None or group.kind != "team" or group.team != SUPERVISION_TEAM:
            return Outcome([Out("supervision/where")])
    now = rt.now()
    parsed = service.parse_args(text, now)
    if parsed is None:
        return usage("supervise")
    period, scope_text = parsed
    scope = await scope_of(rt, scope_text)
    if scope is None:
        return usage("supervise")
    record, summary = await look(rt, period, scope, now)
    name = export.file_name(period, now)
    await asyncio.to_thread(export.write_workbook, rt.settings.data_path(), name, record)
    async with rt.db.write() as s:
        token = await console.issue_link(
            s, sender.account, console.LINK_DOWNLOAD, now, path=name,
            label=export.download_name(period),
        )
        await audit(s, sender.account, "supervise",
                    f"{period.start.date()}..{period.end.date()} items={len(record)} "
                    f"file={name}", at=now, scope=service.scope_code(scope))
    url = rt.settings.console_url(f"/console/download/{token}")
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

