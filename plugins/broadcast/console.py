"""广播 in the web console: compose with a scope, preview the target groups and the
estimate, confirm (the same service calls as /广播 and /确认), then a delivery report
per group that refreshes itself while the outbox works; the slogan library and the
policy notes with their study counts."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func
from sqlmodel import col, select

from bot.console import StaffView, Viewer, form_of, the_console
from bot.kit import refusal
from bot.runtime import Runtime, current_runtime
from ground.grammar import parse_scope
from plugins.broadcast import service
from plugins.broadcast.service import BroadcastError
from storage.models import ChatGroup, Community, Grid, OutboxItem
from storage.models_broadcast import Broadcast
from storage.models_publicity import Policy, PolicyStudy, Slogan
from storage.repo import ALL, ScopeError, resolve_scope

router = APIRouter()
RECENT = 20


def _refusal_text(rt: Runtime, err: Exception) -> str:
    out = refusal(err).first
    return rt.renderer.render(out.template, **out.context)


async def _compose(request: Request, viewer: Viewer, **ctx) -> Response:
    rt = current_runtime()
    async with rt.db.read() as s:
        recent = (await s.exec(select(Broadcast).where(Broadcast.state != "preview")
                               .order_by(col(Broadcast.id).desc()).limit(RECENT))).all()
        # The scope picker: the street, each community and each of its grids.
        grids = (await s.exec(select(Community.name, Grid.name)
                              .join(Grid, col(Grid.community_id) == Community.id)
                              .order_by(Community.name, Grid.name))).all()
    ctx["scopes"] = ["全街道", *dict.fromkeys(c for c, _ in grids),
                     *(f"{c}/{g}" for c, g in grids)]
    ctx.setdefault("text", "")
    ctx.setdefault("scope", "")
    ctx.setdefault("error", "")  # a refusal, as the chat words it
    ctx.setdefault("bad_scope", "")
    return the_console().page(request, viewer, "broadcast", recent=recent, **ctx)


@router.get("/broadcast")
async def compose_page(request: Request, viewer: Viewer = StaffView) -> Response:
    return await _compose(request, viewer)


@router.post("/broadcast/preview")
async def preview(request: Request, viewer: Viewer = StaffView) -> Response:
    form = await form_of(request, viewer)
    rt = current_runtime()
    text, scope_text = str(form.get("text", "")), str(form.get("scope", "")).strip()
    urgent = form.get("urgent") == "1"
    expr = parse_scope(scope_text) if scope_text and scope_text != "全街道" else None
    if scope_text and scope_text != "全街道" and expr is None:
        return await _compose(request, viewer, text=text, scope=scope_text,
                              bad_scope=scope_text)
    try:
        async with rt.db.write() as s:
            scope = await resolve_scope(s, expr, ALL) if expr is not None else ALL
            p = await service.create_preview(
                s, actor=viewer.account, scope=scope, text=text, urgent=urgent, ack=False,
                now=rt.now(), quiet=rt.settings.quiet_hours,
                duplicate_window=timedelta(seconds=rt.settings.duplicate_window_s),
                pacing=rt.settings.pacing_table(),
            )
    except (BroadcastError, ScopeError) as err:
        return await _compose(request, viewer, text=text, scope=scope_text,
                              error=_refusal_text(rt, err))
    return the_console().page(request, viewer, "broadcast_preview", p=p)


@router.post("/broadcast/{number}/confirm")
async def confirm(request: Request, number: int, viewer: Viewer = StaffView) -> Response:
    await form_of(request, viewer)
    rt = current_runtime()
    try:
        async with rt.db.write() as s:
            await service.confirm(
                s, rt.delivery, actor=viewer.account, number=number, now=rt.now(),
                quiet=rt.settings.quiet_hours, superuser=viewer.level == "admin",
            )
    except BroadcastError as err:
        return await _compose(request, viewer, error=_refusal_text(rt, err))
    return RedirectResponse(f"/console/broadcast/{number}", status_code=303)


@router.post("/broadcast/{number}/cancel")
async def cancel(request: Request, number: int, viewer: Viewer = StaffView) -> Response:
    await form_of(request, viewer)
    rt = current_runtime()
    assert rt.outbox is not None
    try:
        async with rt.db.write() as s:
            await service.cancel(s, rt.outbox, actor=viewer.account, number=number,
                                 now=rt.now(), superuser=viewer.level == "admin")
    except BroadcastError as err:
        return await _compose(request, viewer, error=_refusal_text(rt, err))
    return RedirectResponse(f"/console/broadcast/{number}", status_code=303)


async def _report(rt: Runtime, number: int) -> dict | None:
    async with rt.db.read() as s:
        bc = await s.get(Broadcast, number)
        if bc is None:
            return None
        items = (await s.exec(
            select(OutboxItem, ChatGroup).outerjoin(
                ChatGroup, col(ChatGroup.id) == OutboxItem.chat_group_id)
            .where(OutboxItem.source == f"broadcast:{number}")
            .order_by(col(OutboxItem.id)))).all()
        rows = []
        for item, group in items:
            label = await service.group_label(s, group) if group is not None else ""
            rows.append({"label": label, "group": group.group_id if group else "",
                         "state": item.state, "error": item.error, "at": item.finished_at})
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    settled = all(r["state"] not in ("pending", "sending") for r in rows)
    return {"bc": bc, "rows": rows, "counts": counts, "settled": settled}


@router.get("/broadcast/{number}")
async def report_page(request: Request, number: int, viewer: Viewer = StaffView) -> Response:
    rt = current_runtime()
    report = await _report(rt, number)
    if report is None:
        return the_console().page(request, viewer, "not_found", status=404)
    return the_console().page(request, viewer, "broadcast_report", r=report)


@router.get("/broadcast/{number}/live")
async def report_live(request: Request, number: int, viewer: Viewer = StaffView) -> Response:
    report = await _report(current_runtime(), number)
    if report is None:
        return the_console().fragment("fragments/gone")
    return the_console().fragment("fragments/delivery", r=report)


@router.get("/publicity")
async def publicity_page(request: Request, viewer: Viewer = StaffView) -> Response:
    """The slogan library and the policy notes, each with how many studied it."""
    rt = current_runtime()
    async with rt.db.read() as s:
        slogans = (await s.exec(select(Slogan).where(col(Slogan.deleted_at).is_(None))
                                .order_by(col(Slogan.id)))).all()
        policies = (await s.exec(
            select(Policy, func.count(col(PolicyStudy.id)))
            .outerjoin(PolicyStudy, col(PolicyStudy.policy_id) == Policy.id)
            .group_by(col(Policy.id)).order_by(col(Policy.id).desc()))).all()
    return the_console().page(request, viewer, "publicity", slogans=slogans, policies=policies)
