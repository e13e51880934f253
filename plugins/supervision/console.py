"""督查 in the web console, for 管理员 and the 纪检监督组 (``Viewer.supervises``): the
summary ``/督查`` gives for a period (and scope) chosen in a small form, a chart of
on-time rates by grid over the last eight weeks, the people most often late or
missing, each person's record, and the XLSX of the record (the writer ``/督查`` uses).

Every view and download is audited (ids and codes only, never a name)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response

from bot.console import SupervisorView, Viewer, the_console
from bot.runtime import Runtime, current_runtime
from plugins.supervision import export, flows, service
from storage.models import Person as RosterPerson
from storage.repo import Scope, audit

router = APIRouter()
PERIODS = ("本周", "上周", "本月", "上月")
CUSTOM = "自定义"
WEEKS = 8


class Choice:
    """What the form asked for: the period's words, the dates, the scope's text."""

    def __init__(self, request: Request) -> None:
        q = request.query_params
        self.p = q.get("p", "本周").strip() or "本周"
        self.start = q.get("from", "").strip()
        self.end = q.get("to", "").strip()
        self.scope = q.get("scope", "").strip()

    @property
    def period_text(self) -> str:
        if self.p == CUSTOM:
            return f"{self.start}至{self.end}"
        return self.p if self.p in PERIODS else ""

    @property
    def query(self) -> str:
        """The same choice as a query string, for the links of the page."""
        fields = {"p": self.p, "from": self.start, "to": self.end, "scope": self.scope}
        return urlencode({k: v for k, v in fields.items() if v})


async def _resolve(
    rt: Runtime, choice: Choice,
) -> tuple[service.Period | None, Scope | None, str]:
    """The period and scope chosen, or the reason why not (``period`` / ``scope``)."""
    period = service.parse_period(choice.period_text, rt.now()) if choice.period_text else None
    if period is None:
        return None, None, "period"
    scope = await flows.scope_of(rt, choice.scope)
    if scope is None:
        return period, None, "scope"
    return period, scope, ""


@dataclass
class _Looked:
    """The period and scope the form chose, and the duty record they give."""

    rt: Runtime
    now: datetime
    choice: Choice
    period: service.Period
    scope: Scope
    record: list
    summary: Any

    async def audit(self, viewer: Viewer, action: str, items: int, more: str = "",
                    subject: tuple[str, int | None] = ("", None)) -> None:
        """Every view of the record is audited: who, the period, how many items."""
        async with self.rt.db.write() as s:
            await audit(s, viewer.account, action, f"{_span(self.period)} items={items}{more}",
                        at=self.now, subject=subject, scope=service.scope_code(self.scope))


async def _looked(request: Request, viewer: Viewer) -> _Looked | Response:
    """The record of what the form chose, or the form again (400) saying what was wrong."""
    rt = current_runtime()
    now = rt.now()
    choice = Choice(request)
    period, scope, bad = await _resolve(rt, choice)
    if bad or period is None or scope is None:
        return the_console().page(request, viewer, "supervision", status=400, c=choice,
                                  bad=bad, periods=PERIODS, custom=CUSTOM)
    record, summary = await flows.look(rt, period, scope, now)
    return _Looked(rt, now, choice, period, scope, record, summary)


def _span(period: service.Period) -> str:
    return f"{period.start.date()}..{period.end.date()}"


@router.get("/supervision")
async def supervision_page(request: Request, viewer: Viewer = SupervisorView) -> Response:
    looked = await _looked(request, viewer)
    if isinstance(looked, Response):
        return looked
    rt, now, record = looked.rt, looked.now, looked.record
    weeks = service.recent_weeks(now, WEEKS)
    async with rt.db.read() as s:
        history = await service.duty_record(
            s, service.Period(weeks[0].start, weeks[-1].end, ""), now,
            incident_minutes=rt.settings.incident_escalate_minutes, scope=looked.scope,
            policy_hours=rt.settings.policy_remind_hours)
    labels, series = service.rates_by_grid(weeks, history)
    await looked.audit(viewer, "console_supervise", len(record))
    return the_console().page(
        request, viewer, "supervision", c=looked.choice, bad="", periods=PERIODS,
        custom=CUSTOM, s=looked.summary,
        missed=[o for o in record if o.outcome == service.MISSED],
        chart={"x": labels, "series": series}, items=len(record))


@router.get("/supervision/people/{person_id}")
async def person_page(request: Request, person_id: int,
                      viewer: Viewer = SupervisorView) -> Response:
    """One person's obligations in the period (and scope), with their outcome."""
    async with current_runtime().db.read() as s:
        person = await s.get(RosterPerson, person_id)
    if person is None:
        return the_console().page(request, viewer, "not_found", status=404)
    looked = await _looked(request, viewer)
    if isinstance(looked, Response):
        return looked
    mine = [o for o in looked.record if o.person_id == person_id]
    tally = service.Tally("合计")
    for o in mine:
        tally.add(o)
    await looked.audit(viewer, "console_supervise_person", len(mine),
                       subject=("person", person_id))
    scope = looked.scope
    return the_console().page(
        request, viewer, "supervision_person", c=looked.choice, person=person,
        period=looked.period, scope=scope.label if scope.kind != "all" else "", rows=mine,
        t=tally, labels=export.OUTCOME_LABELS,
    )


@router.get("/supervision/export")
async def supervision_export(request: Request, viewer: Viewer = SupervisorView) -> Response:
    """The record of the period as the XLSX ``/督查`` links to; audited."""
    looked = await _looked(request, viewer)
    if isinstance(looked, Response):
        return looked
    name = export.file_name(looked.period, looked.now)
    path = await asyncio.to_thread(export.write_workbook, looked.rt.settings.data_path(), name,
                                   looked.record)
    await looked.audit(viewer, "console_supervise_export", len(looked.record), f" file={name}")
    return FileResponse(path, filename=export.download_name(looked.period),
                        headers={"Cache-Control": "no-store"})
