"""Messages the check-in capability pushes to bound groups (not replies).

Builders read the database and return ``Push``es (group + template + context +
mentions); ``queue`` renders them into the outbox inside the caller's write
transaction — the one that decided them — so a report and its 异常 alert, or a
closed round and its summary, commit together: a crash after the commit cannot
lose the push, and a rolled-back decision sends nothing. The outbox paces and
delivers them, and waits for a bot to be connected.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.kit import Out
from bot.runtime import Runtime
from ground.timeutil import as_utc
from plugins.checkin import service, tally
from plugins.checkin.service import MissingUnit
from storage.models import ChatGroup, CheckinRound
from storage.places import closest_work_groups, covering_any, staff_groups, work_groups

log = logging.getLogger("gridbot.checkin")

# A summary names at most this many missing units; the export has them all.
SUMMARY_UNIT_LIMIT = 60


@dataclass
class Push:
    group: ChatGroup
    out: Out


# Outbox priorities: an 异常 must not wait behind a morning's reminders.
ALERT_PRIORITY = 1
NOTICE_PRIORITY = 0


def source_of(round_id: int | None) -> str:
    """The outbox ``source`` of a round's pushes."""
    return f"checkin:{round_id}"


async def queue(
    rt: Runtime, session: AsyncSession, pushes: Sequence[Push], *, source: str,
    priority: int = NOTICE_PRIORITY,
) -> int:
    """Render each push and queue it in ``session``'s transaction (the caller's
    write transaction, which must be the one that decided the push)."""
    for push in pushes:
        text = rt.renderer.render(push.out.template, **push.out.context)
        await rt.delivery.to_group(
            push.group, text, push.out.mentions, session=session, source=source,
            priority=priority,
        )
    return len(pushes)


def minutes_left(rnd: CheckinRound, now: datetime) -> int:
    seconds = (as_utc(rnd.deadline) - as_utc(now)).total_seconds()
    return max(0, int(seconds // 60))


# --- laggards --------------------------------------------------------------------------------


@dataclass
class Chase:
    pushes: list[Push]
    units: int  # unreported units
    mentioned: int  # distinct people @-mentioned
    orphans: list[MissingUnit]  # unreported units no work group covers


async def chase(
    session: AsyncSession, rnd: CheckinRound, now: datetime, *, automatic: bool,
    only: set[int] | None = None, rescreen: bool = False,
) -> Chase:
    """@ the leaders of unreported units in the work group closest to each unit
    (``only``: those units; ``rescreen``: they were just reopened, 重排)."""
    assert rnd.id is not None
    missing = await service.missing_units(session, rnd.id, now)
    if only is not None:
        missing = [m for m in missing if m.place.unit_id in only]
    groups = work_groups(await staff_groups(session))
    per_group: dict[int, tuple[ChatGroup, list[MissingUnit]]] = {}
    orphans: list[MissingUnit] = []
    for unit in missing:
        targets = closest_work_groups(groups, unit.place)
        if not targets:
            orphans.append(unit)
        for g in targets:
            per_group.setdefault(g.id, (g, []))[1].append(unit)  # type: ignore[arg-type]
    pushes: list[Push] = []
    people: set[str] = set()
    for group, units in per_group.values():
        batches = service.mention_batches(units, group.platform)
        for index, (batch_units, mentions) in enumerate(batches, start=1):
            people.update(m.account for m in mentions)
            pushes.append(
                Push(
                    group,
                    Out(
                        "checkin/remind",
                        {
                            "rnd": rnd, "units": batch_units, "total": len(units),
                            "part": index, "parts": len(batches), "automatic": automatic,
                            "minutes_left": minutes_left(rnd, now), "rescreen": rescreen,
                        },
                        tuple(mentions),
                    ),
                )
            )
    return Chase(pushes, len(missing), len(people), orphans)


async def missing_replies(
    session: AsyncSession, rnd: CheckinRound, now: datetime, platform: str
) -> list[Out]:
    """``/未报``: the unreported units and their leaders, at most 20 @ per message."""
    assert rnd.id is not None
    missing = await service.missing_units(session, rnd.id, now)
    batches = service.mention_batches(missing, platform)
    return [
        Out(
            "checkin/missing",
            {"rnd": rnd, "units": units, "total": len(missing), "part": i, "parts": len(batches)},
            tuple(mentions),
        )
        for i, (units, mentions) in enumerate(batches, start=1)
    ]


# --- summaries -------------------------------------------------------------------------------


async def summary_context(
    session: AsyncSession, rnd: CheckinRound, now: datetime, reason: str
) -> dict[str, Any]:
    """What the 日报 template shows: totals, per community and grid, missing units."""
    assert rnd.id is not None
    missing = await service.missing_units(session, rnd.id, now)
    return {
        "rnd": rnd,
        "reason": reason,
        "now": now,
        "t": await tally.total(session, rnd.id),
        "communities": await tally.labelled(session, rnd.id, "community"),
        "grids": await tally.labelled(session, rnd.id, "grid"),
        "missing": missing[:SUMMARY_UNIT_LIMIT],
        "missing_total": len(missing),
        "several_communities": len({m.community for m in missing}) > 1,
    }


async def progress_context(
    session: AsyncSession, rnd: CheckinRound, now: datetime
) -> dict[str, Any]:
    assert rnd.id is not None
    several = await tally.community_count(session, rnd.id) > 1
    return {
        "rnd": rnd,
        "t": await tally.total(session, rnd.id),
        "slow": await tally.slowest_buildings(session, rnd.id, 3, with_community=several),
        "minutes_left": minutes_left(rnd, now),
        "overdue": as_utc(now) > as_utc(rnd.deadline),
        "drift": await service.roster_drift(session, rnd.id),
    }


async def staff_summary(
    session: AsyncSession, rnd: CheckinRound, now: datetime, reason: str
) -> list[Push]:
    """The deadline summary for staff (数据统计排查组, else the work groups)."""
    assert rnd.id is not None
    places = await service.round_places(session, rnd.id)
    targets = service.staff_targets(await staff_groups(session), places)
    if not targets:
        log.warning("round #%s: no staff or work group bound for its summary", rnd.id)
        return []
    out = Out("checkin/daily_report", await summary_context(session, rnd, now, reason))
    return [Push(g, out) for g in targets]


def abnormal_pushes(result: service.Submitted) -> list[Push]:
    out = Out("checkin/abnormal_alert", {"r": result})
    pushes = [Push(g, out) for g in result.alert_groups]
    # A 拒访 is a gap staff must follow up: 数据统计排查组 hears of it at once.
    refusal = Out("checkin/refusal_alert", {"r": result})
    return pushes + [Push(g, refusal) for g in result.refusal_groups]


async def announce_round(
    session: AsyncSession, opened: service.Opened
) -> list[Push]:
    """A daily round opened by the scheduler is announced in its work groups."""
    assert opened.round.id is not None
    places = await service.round_places(session, opened.round.id)
    groups = covering_any(
        work_groups(await staff_groups(session)), places
    )
    out = Out("checkin/opened", {"o": opened, "automatic": True})
    return [Push(g, out) for g in groups]
