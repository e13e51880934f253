"""Incidents (事件) for the 应急小分队: report, acknowledge, close, escalate.

Plain async functions over a session. Each either changes the database and
returns what it did, or raises ``IncidentError`` / ``ScopeError`` before it has
written anything.

Where things go (DESIGN.md §1, §4): the alert to the 应急小分队 team group(s)
covering the unit names the unit, never the room; the room goes privately to
whoever acknowledges. Unacknowledged after ``incident_escalate_minutes`` the
incident is escalated to the work groups covering the unit and the 综合协调组.
Response times are stored in minutes and written to the audit log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.kit import CommandError
from bot.scheduler import add_item, as_utc, cancel_items
from bot.settings import Settings
from messages.mask import scrub
from plugins.incidents.syntax import Report
from storage import places
from storage.models import ChatGroup, ScheduledItem
from storage.models_events import INCIDENT_ACKED, INCIDENT_CLOSED, INCIDENT_OPEN, Incident
from storage.places import LabelledPlace, Standing
from storage.repo import audit

log = logging.getLogger("gridbot.incidents")

KIND_ESCALATE = "incident.escalate"
RESPONSE_TEAM = "应急小分队"
COORDINATION_TEAM = "综合协调组"
LIST_LIMIT = 30


class IncidentError(CommandError):
    template = "incidents/error"


def escalate_minutes(settings: Settings) -> int:
    return settings.incident_escalate_minutes


def minutes_between(start: datetime, end: datetime) -> int:
    return max(0, int((as_utc(end) - as_utc(start)).total_seconds() // 60))


def responder(who: Standing) -> bool:
    return who.staff or RESPONSE_TEAM in who.teams


@dataclass(frozen=True)
class IncidentView:
    """What templates see. ``room`` is only printed by the private templates."""

    id: int
    kind: str
    place: str  # 幸福社区/3栋2单元
    room: str
    note: str
    reporter: str  # the reporter's roster name (a worker, never a resident)
    reporter_account: str  # where the result goes privately
    reported_at: datetime
    state: str
    acked_by: str
    acked_at: datetime | None
    ack_minutes: int | None
    escalated: bool
    closed_at: datetime | None
    close_minutes: int | None
    result: str
    waiting_minutes: int  # since the report, for lists


async def _name(session: AsyncSession, account: str | None) -> str:
    return await places.name_of(session, account) if account else ""


async def view(
    session: AsyncSession, inc: Incident, place: LabelledPlace, now: datetime
) -> IncidentView:
    assert inc.id is not None
    return IncidentView(
        id=inc.id, kind=inc.kind, place=place.full_label, room=inc.room, note=inc.note,
        reporter=await _name(session, inc.reported_by), reporter_account=inc.reported_by or "",
        reported_at=inc.reported_at,
        state=inc.state, acked_by=await _name(session, inc.acked_by), acked_at=inc.acked_at,
        ack_minutes=inc.ack_minutes, escalated=inc.escalated_at is not None,
        closed_at=inc.closed_at, close_minutes=inc.close_minutes, result=inc.result,
        waiting_minutes=minutes_between(inc.reported_at, now),
    )


# --- reporting -------------------------------------------------------------------------------


@dataclass
class Reported:
    incident: IncidentView
    alert_groups: list[ChatGroup]
    escalate: ScheduledItem
    minutes: int


async def report(
    session: AsyncSession, *, who: Standing, args: Report, now: datetime, minutes: int,
    base: tuple[str, int] | None = None,
) -> Reported:
    place = await places.resolve_unit(session, args.unit, base)
    inc = Incident(
        kind=args.kind, unit_id=place.unit_id, room=args.room, note=scrub(args.note),
        reported_by=who.account, reported_at=now,
    )
    session.add(inc)
    await session.flush()
    assert inc.id is not None
    item = await add_item(session, KIND_ESCALATE, inc.id, as_utc(now) + timedelta(minutes=minutes))
    await audit(
        session, who.account, "incident_report", f"#{inc.id} {inc.kind} unit={place.unit_id}"
    )
    groups = places.team_groups(await places.staff_groups(session), RESPONSE_TEAM, place)
    if not groups:
        log.warning("incident #%s: no %s group covers unit %s", inc.id, RESPONSE_TEAM,
                    place.unit_id)
    return Reported(await view(session, inc, place, now), groups, item, minutes)


# --- acknowledging and closing ---------------------------------------------------------------


async def _incident(session: AsyncSession, number: int) -> tuple[Incident, LabelledPlace]:
    inc = await session.get(Incident, number)
    place = await places.place_of(session, inc.unit_id) if inc is not None else None
    if inc is None or place is None:
        raise IncidentError("not_found", number=number)
    return inc, place


@dataclass
class Handled:
    incident: IncidentView
    cancelled: list[ScheduledItem]
    notify_groups: list[ChatGroup] = field(default_factory=list)


async def _notify_groups(
    session: AsyncSession, inc: Incident, place: LabelledPlace
) -> list[ChatGroup]:
    """Who hears that an incident was taken or closed: the 应急小分队, and the
    staff groups it was escalated to."""
    groups = await places.staff_groups(session)
    out = places.team_groups(groups, RESPONSE_TEAM, place)
    if inc.escalated_at is not None:
        out += escalation_targets(groups, place)
    return places.unique(out)


async def _still_open(
    session: AsyncSession, who: Standing, number: int
) -> tuple[Incident, LabelledPlace]:
    """The incident a responder acknowledges or closes: it must not be closed yet."""
    if not responder(who):
        raise IncidentError("not_responder")
    inc, place = await _incident(session, number)
    if inc.state == INCIDENT_CLOSED:
        raise IncidentError("closed", number=number)
    return inc, place


async def _handled(
    session: AsyncSession, inc: Incident, place: LabelledPlace, now: datetime,
    cancelled: list[ScheduledItem],
) -> Handled:
    return Handled(
        await view(session, inc, place, now), cancelled, await _notify_groups(session, inc, place)
    )


def _ack(inc: Incident, who: Standing, now: datetime) -> None:
    inc.state = INCIDENT_ACKED
    inc.acked_by = who.account
    inc.acked_at = now
    inc.ack_minutes = minutes_between(inc.reported_at, now)


async def acknowledge(
    session: AsyncSession, *, who: Standing, number: int, now: datetime
) -> Handled:
    inc, place = await _still_open(session, who, number)
    if inc.state == INCIDENT_ACKED:
        raise IncidentError(
            "already_acked", number=number, by=await _name(session, inc.acked_by),
            at=inc.acked_at,
        )
    _ack(inc, who, now)
    session.add(inc)
    cancelled = await cancel_items(session, (KIND_ESCALATE,), number)
    await audit(session, who.account, "incident_ack", f"#{number} {inc.ack_minutes}min")
    return await _handled(session, inc, place, now, cancelled)


async def close(
    session: AsyncSession, *, who: Standing, number: int, result: str, now: datetime
) -> Handled:
    inc, place = await _still_open(session, who, number)
    cancelled: list[ScheduledItem] = []
    if inc.state == INCIDENT_OPEN:
        # Closing what nobody acknowledged acknowledges it now: the escalation is moot.
        _ack(inc, who, now)
        cancelled = await cancel_items(session, (KIND_ESCALATE,), number)
    inc.state = INCIDENT_CLOSED
    inc.closed_by = who.account
    inc.closed_at = now
    inc.close_minutes = minutes_between(inc.reported_at, now)
    inc.result = scrub(result)
    session.add(inc)
    await audit(session, who.account, "incident_close",
                f"#{number} ack={inc.ack_minutes}min close={inc.close_minutes}min")
    return await _handled(session, inc, place, now, cancelled)


async def open_incidents(session: AsyncSession, now: datetime) -> tuple[list[IncidentView], int]:
    rows = (
        await session.exec(
            select(Incident)
            .where(col(Incident.state).in_((INCIDENT_OPEN, INCIDENT_ACKED)))
            .order_by(Incident.id)
        )
    ).all()
    where = await places.places_of(session, sorted({i.unit_id for i in rows}))
    views = [
        await view(session, inc, where[inc.unit_id], now)
        for inc in rows[:LIST_LIMIT] if inc.unit_id in where
    ]
    return views, len(rows)


# --- escalation ------------------------------------------------------------------------------


def escalation_targets(groups: list[ChatGroup], place: LabelledPlace) -> list[ChatGroup]:
    """Staff: every work group covering the unit, and the 综合协调组."""
    work = [g for g in groups if g.kind == "work" and places.covers(g, place)]
    return places.unique(work + places.team_groups(groups, COORDINATION_TEAM, place))


@dataclass
class Escalation:
    incident: IncidentView
    groups: list[ChatGroup]
    accounts: list[str]  # when no group is bound: the 综合协调组 members privately


async def escalate(session: AsyncSession, number: int, now: datetime) -> Escalation | None:
    """Mark an incident escalated if still unacknowledged; None when it was taken."""
    inc = await session.get(Incident, number)
    if inc is None or inc.state != INCIDENT_OPEN:
        return None
    place = await places.place_of(session, inc.unit_id)
    if place is None:
        return None
    inc.escalated_at = now
    session.add(inc)
    await audit(session, "scheduler", "incident_escalate",
                f"#{number} after {minutes_between(inc.reported_at, now)}min")
    groups = escalation_targets(await places.staff_groups(session), place)
    accounts: list[str] = []
    if not groups:
        accounts = await places.team_accounts(session, COORDINATION_TEAM)
        log.warning("incident #%s: no staff group covers unit %s; %d told privately",
                    number, place.unit_id, len(accounts))
    return Escalation(await view(session, inc, place, now), groups, accounts)
