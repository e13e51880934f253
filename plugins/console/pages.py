"""The console's own pages: 概览 cards of the street's events and the outbox, 群,
the 隔离 / 事件 / 协查 / 任务 lists and 审计. Each reads storage tables directly
(no other plugin) and shows a viewer only the places of their scope."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func
from sqlmodel import col, select

from bot.console import StaffView, SupervisorView, Viewer, the_console
from bot.runtime import Runtime, current_runtime
from ground.timeutil import as_utc, local
from storage.models import (
    Alert,
    AssistTask,
    AuditLog,
    ChatGroup,
    Duty,
    Incident,
    OutboxItem,
    Quarantine,
)
from storage.models_deadlines import AlertAck
from storage.models_events import INCIDENT_CLOSED, QUARANTINE_ACTIVE
from storage.places import all_places, places_of
from storage.repo import scope_label

router = APIRouter()
AUDIT_PAGE = 200


def mask_key(url: str | None) -> str:
    """A WeCom robot's webhook with its key hidden: …key=abcd****wxyz."""
    if not url:
        return ""
    head, _, key = url.partition("key=")
    if not key:
        return head[:24] + "…"
    return f"{head}key={key[:4]}****{key[-4:]}" if len(key) > 8 else f"{head}key=****"


async def _visible_units(rt: Runtime, viewer: Viewer, unit_ids: set[int]) -> dict[int, object]:
    async with rt.db.read() as s:
        places = await places_of(s, sorted(unit_ids))
    return {uid: p for uid, p in places.items() if viewer.sees(p)}


# --- 概览 cards ---------------------------------------------------------------------


async def events_card(rt: Runtime, viewer: Viewer, now: datetime) -> tuple[str, dict] | None:
    if not viewer.at_least("staff"):
        return None
    async with rt.db.read() as s:
        incidents = (await s.exec(select(Incident.unit_id).where(
            Incident.state != INCIDENT_CLOSED))).all()
        quarantines = (await s.exec(select(Quarantine.unit_id).where(
            Quarantine.state == QUARANTINE_ACTIVE))).all()
        assists = (await s.exec(select(func.count()).select_from(AssistTask).where(
            AssistTask.state == "open"))).one()
    seen = await _visible_units(rt, viewer, set(incidents) | set(quarantines))
    return "cards/events", {
        "incidents": sum(1 for u in incidents if u in seen),
        "quarantines": sum(1 for u in quarantines if u in seen),
        "assists": assists if ("all", 0) in viewer.scopes else None,
    }


async def outbox_card(rt: Runtime, viewer: Viewer, now: datetime) -> tuple[str, dict] | None:
    if not viewer.at_least("staff"):
        return None
    async with rt.db.read() as s:
        rows = (await s.exec(
            select(OutboxItem.state, func.count()).where(
                col(OutboxItem.state).in_(("pending", "sending", "unknown", "failed")))
            .group_by(OutboxItem.state))).all()
    counts = dict(rows)
    return "cards/outbox", {"counts": {k: counts.get(k, 0)
                                        for k in ("pending", "sending", "unknown", "failed")}}


# --- pages ---------------------------------------------------------------------------


@router.get("/groups")
async def groups_page(request: Request, viewer: Viewer = StaffView) -> Response:
    rt = current_runtime()
    async with rt.db.read() as s:
        groups = (await s.exec(select(ChatGroup).order_by(ChatGroup.kind, ChatGroup.id))).all()
        places = await all_places(s)
        rows = []
        for g in groups:
            if not viewer.sees_scope(g.scope_kind, g.scope_id, places):
                continue
            rows.append({
                "platform": g.platform, "group_id": g.group_id, "kind": g.kind,
                "team": g.team or "", "scope": await scope_label(s, g.scope_kind, g.scope_id),
                "webhook": mask_key(g.webhook_url),
            })
    return the_console().page(request, viewer, "groups", groups=rows)


async def _placed_list(request: Request, viewer: Viewer, query, template: str,
                       name: str) -> Response:
    """A list of records that each sit in a unit, those of the viewer's scope only."""
    rt = current_runtime()
    async with rt.db.read() as s:
        rows = (await s.exec(query)).all()
    seen = await _visible_units(rt, viewer, {r.unit_id for r in rows})
    shown = [{name: r, "place": seen[r.unit_id]} for r in rows if r.unit_id in seen]
    return the_console().page(request, viewer, template, rows=shown)


@router.get("/quarantine")
async def quarantine_page(request: Request, viewer: Viewer = StaffView) -> Response:
    query = select(Quarantine).order_by(Quarantine.state, Quarantine.end_date)
    return await _placed_list(request, viewer, query, "quarantine", "q")


@router.get("/incidents")
async def incidents_page(request: Request, viewer: Viewer = StaffView) -> Response:
    query = select(Incident).order_by(col(Incident.id).desc())
    return await _placed_list(request, viewer, query, "incidents", "i")


@router.get("/tasks")
async def tasks_page(request: Request, viewer: Viewer = StaffView) -> Response:
    """协查 letters and 预警 (street-wide: whole-street staff only), recurring duties."""
    rt = current_runtime()
    street = ("all", 0) in viewer.scopes
    async with rt.db.read() as s:
        if street:
            assists = (await s.exec(select(AssistTask).order_by(
                col(AssistTask.state).desc(), col(AssistTask.due_at)))).all()
            alerts = (await s.exec(select(Alert).order_by(col(Alert.id).desc()))).all()
            acks = (await s.exec(select(AlertAck))).all()
        else:
            assists, alerts, acks = [], [], []
        duties = (await s.exec(select(Duty).where(Duty.active))).all()
    acked: dict[int, list[int]] = {}
    for a in acks:
        acked.setdefault(a.alert_id, [0, 0])
        acked[a.alert_id][1] += 1
        acked[a.alert_id][0] += a.acked_at is not None
    now = as_utc(rt.now())
    return the_console().page(
        request, viewer, "tasks", alerts=alerts, acked=acked, duties=duties,
        assists=[{"a": a, "late": as_utc(a.due_at) < now} for a in assists])


@router.get("/audit")
async def audit_page(request: Request, actor: str = "", action: str = "", date: str = "",
                     viewer: Viewer = SupervisorView) -> Response:
    rt = current_runtime()
    query = select(AuditLog).order_by(col(AuditLog.id).desc()).limit(AUDIT_PAGE)
    if actor.strip():
        query = query.where(AuditLog.actor == actor.strip())
    if action.strip():
        query = query.where(AuditLog.action == action.strip())
    day = None
    if date.strip():
        try:
            day = datetime.fromisoformat(date.strip()).date()
        except ValueError:
            day = None
        if day is not None:
            start = local(rt.now()).replace(year=day.year, month=day.month, day=day.day,
                                             hour=0, minute=0, second=0, microsecond=0)
            query = query.where(AuditLog.at >= as_utc(start),
                                AuditLog.at < as_utc(start + timedelta(days=1)))
    async with rt.db.read() as s:
        rows = (await s.exec(query)).all()
        actions = (await s.exec(select(AuditLog.action).distinct().order_by(AuditLog.action))).all()
    return the_console().page(
        request, viewer, "audit", rows=rows, actions=actions, actor=actor, action=action,
        date=date, bad_date=bool(date) and day is None, limit=AUDIT_PAGE)
