"""What each incident command does, from its argument text to what is said.

The alert to the 应急小分队, the notices to the other groups concerned and the
private details are queued in the outbox in the transaction that records the
incident or its handling; the escalation is armed (or disarmed) after the commit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.kit import Out, Outcome, Sender, refusal
from bot.permissions import role_permission
from bot.runtime import Runtime
from plugins._common.lookups import origin_group as _origin
from plugins._common.lookups import standing_of as _who
from plugins.incidents import service, syntax
from plugins.incidents.service import RESPONSE_TEAM, Handled, IncidentError
from storage import places
from storage.models import ChatGroup
from storage.repo import (
    ADMIN,
    BUILDING_LEADER,
    STAFF,
    UNIT_LEADER,
    VOLUNTEER,
    ScopeError,
)

# Whoever works in the street may report; only the squad and staff take incidents on.
REPORT_PERM = role_permission(ADMIN, STAFF, BUILDING_LEADER, UNIT_LEADER, VOLUNTEER, RESPONSE_TEAM)
RESPONDER_PERM = role_permission(ADMIN, STAFF, RESPONSE_TEAM)


# --- /事件 -----------------------------------------------------------------------------------


async def incident_cmd(rt: Runtime, sender: Sender, text: str) -> Outcome:
    parsed = syntax.parse_incident(text)
    if parsed is None:
        return Outcome(
            [Out("usage/incident", {"minutes": service.escalate_minutes(rt.settings)})]
        )
    now = rt.now()
    private = sender.private
    if isinstance(parsed, syntax.ListOpen):
        if not await sender.allowed(RESPONDER_PERM):
            return Outcome([Out("common/refused")])
        async with rt.db.read() as s:
            open_, total = await service.open_incidents(s, now)
        return Outcome(
            [Out("incidents/list", {"incidents": open_, "total": total, "private": private})]
        )
    origin = await _origin(rt, sender)
    base = (origin.scope_kind, origin.scope_id) if origin is not None else None
    who = await _who(rt, sender)
    try:
        async with rt.db.write() as s:
            reported = await service.report(
                s, who=who, args=parsed, now=now, minutes=service.escalate_minutes(rt.settings),
                base=base,
            )
            alert = rt.renderer.render("incidents/alert", r=reported)
            for group in reported.alert_groups:
                await rt.delivery.to_group(
                    group, alert, session=s, source=f"incident:{reported.incident.id}",
                    priority=1,
                )
    except ScopeError as err:
        return refusal(err)
    if rt.scheduler is not None:  # else the next start's rebuild arms it
        rt.scheduler.arm(reported.escalate)
    return Outcome([Out("incidents/reported", {"r": reported, "private": private})])


# --- /处理 /办结 -----------------------------------------------------------------------------

Act = Callable[[AsyncSession, places.Standing], Awaitable[Handled]]


async def _push(
    rt: Runtime, s: AsyncSession, handled: Handled, template: str, account: str,
    private: bool, origin: ChatGroup | None,
) -> None:
    """In the command's transaction: the room and note privately to whoever took it
    on (when they answered in a group), the result privately to the closer and the
    reporter (free text is never echoed into a group), a notice to the other groups
    concerned."""
    inc = handled.incident
    source = f"incident:{inc.id}"
    if template == "incidents/acked" and not private and (inc.room or inc.note):
        detail = rt.renderer.render("incidents/detail", i=inc)
        await rt.delivery.to_account(account, detail, session=s, source=source)
    if template == "incidents/closed" and inc.result:
        result = rt.renderer.render(template, i=inc, private=True, notice=True)
        # The closer saw it already in a private reply; one typed in a group did not.
        to = [] if private else [account]
        if inc.reporter_account and inc.reporter_account not in (account, *to):
            to.append(inc.reporter_account)
        for recipient in to:
            await rt.delivery.to_account(recipient, result, session=s, source=source)
    notice = rt.renderer.render(template, i=inc, private=False, notice=True)
    for group in handled.notify_groups:
        if origin is None or group.id != origin.id:
            await rt.delivery.to_group(group, notice, session=s, source=source)


async def _respond(rt: Runtime, sender: Sender, template: str, act: Act) -> Outcome:
    private = sender.private
    origin = await _origin(rt, sender)
    who = await _who(rt, sender)
    try:
        async with rt.db.write() as s:
            handled = await act(s, who)
            await _push(rt, s, handled, template, sender.account, private, origin)
    except IncidentError as err:
        return refusal(err)
    if rt.scheduler is not None:
        rt.scheduler.disarm(handled.cancelled)
    return Outcome(
        [Out(template, {"i": handled.incident, "private": private, "notice": False})]
    )


async def ack_cmd(rt: Runtime, sender: Sender, text: str) -> Outcome:
    number = syntax.parse_ack(text)
    if number is None:
        return Outcome([Out("usage/incident_ack")])
    now = rt.now()

    async def act(s: AsyncSession, who: places.Standing) -> Handled:
        return await service.acknowledge(s, who=who, number=number, now=now)

    return await _respond(rt, sender, "incidents/acked", act)


async def close_cmd(rt: Runtime, sender: Sender, text: str) -> Outcome:
    parsed = syntax.parse_close(text)
    if parsed is None:
        return Outcome([Out("usage/incident_close")])
    now = rt.now()

    async def act(s: AsyncSession, who: places.Standing) -> Handled:
        return await service.close(
            s, who=who, number=parsed.number, result=parsed.result, now=now
        )

    return await _respond(rt, sender, "incidents/closed", act)
