"""Broadcast logic: targets, previews, confirmation into the outbox, reports.

Plain async functions over a session; the outbox rows for a confirmed broadcast
are written in the same transaction that confirms it.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.kit import CommandError
from ground.quiet import quiet_until
from plugins._common.rows import first_where
from storage.models import ChatGroup
from storage.models_broadcast import (
    BC_CANCELLED,
    BC_CONFIRMED,
    BC_PREVIEW,
    Broadcast,
    BroadcastAck,
)
from storage.models_outbox import OUT_PENDING, OUT_SENDING, OutboxItem
from storage.places import Place, all_places
from storage.repo import ADMIN, Scope, audit, roles_of_account, scope_label, units_in

if TYPE_CHECKING:
    from bot.delivery import Delivery
    from bot.outbox import Outbox, Pacing

MAX_TEXT = 1000
URGENT_PRIORITY = 10
REPORT_PRIORITY = 20


class BroadcastError(CommandError):
    template = "broadcast/error"


# --- targets -----------------------------------------------------------------


async def group_unit_ids(session: AsyncSession, group: ChatGroup) -> set[int]:
    return covered_units(group, await all_places(session))


def covered_units(group: ChatGroup, places: list[Place]) -> set[int]:
    return {p.unit_id for p in places if p.covers(group.scope_kind, group.scope_id)}


async def resident_targets(session: AsyncSession, scope: Scope) -> list[ChatGroup]:
    """Resident groups bound *inside* the scope: a group covering more than the
    scope (a grid group for a one-building notice) is left out."""
    groups = (
        await session.exec(
            select(ChatGroup).where(ChatGroup.kind == "resident").order_by(ChatGroup.id)
        )
    ).all()
    if scope.kind == "all":
        return list(groups)
    wanted = {u.id for _, u in await units_in(session, scope)}
    places = await all_places(session)  # once, not a query per group
    out = []
    for g in groups:
        if g.scope_kind == "all":
            continue
        covered = covered_units(g, places)
        if covered and covered <= wanted:
            out.append(g)
    return out


async def group_label(session: AsyncSession, group: ChatGroup) -> str:
    return await scope_label(session, group.scope_kind, group.scope_id)


# --- timing ------------------------------------------------------------------


def estimate_seconds(n: int, pacing: Pacing) -> float:
    """Time for n sends in one queue: the interval or the per-minute cap, whichever binds."""
    if n <= 1:
        return 0.0
    by_gap = (n - 1) * (pacing.interval + pacing.jitter / 2)
    by_cap = ((n - 1) // max(pacing.per_minute, 1)) * 60.0
    return max(by_gap, by_cap)


# --- commands ----------------------------------------------------------------


@dataclass
class Preview:
    broadcast: Broadcast
    labels: list[str]
    duplicate: bool
    estimate_s: float
    held_until: datetime | None
    queued_ahead: int = 0


async def create_preview(
    session: AsyncSession,
    *,
    actor: str,
    scope: Scope,
    text: str,
    urgent: bool,
    ack: bool,
    now: datetime,
    quiet: str,
    duplicate_window: timedelta,
    pacing: dict[str, Pacing],
) -> Preview:
    text = text.strip()
    if not text:
        raise BroadcastError("empty")
    if len(text) > MAX_TEXT:
        raise BroadcastError("too_long", limit=MAX_TEXT, length=len(text))
    groups = await resident_targets(session, scope)
    if not groups:
        raise BroadcastError("no_targets", scope=scope.label)
    recent = await first_where(
        session, Broadcast,
        Broadcast.created_by == actor,
        Broadcast.text == text,
        Broadcast.state == BC_CONFIRMED,
        col(Broadcast.confirmed_at) >= now - duplicate_window,
    )
    bc = Broadcast(
        created_by=actor, created_at=now, scope_label=scope.label,
        targets=json.dumps([g.id for g in groups]), text=text, urgent=urgent, ack_required=ack,
    )
    session.add(bc)
    await session.flush()
    per_platform: dict[str, int] = {}
    for g in groups:
        key = "webhook" if g.webhook_url else g.platform
        per_platform[key] = per_platform.get(key, 0) + 1
    estimate = max(
        estimate_seconds(n, pacing.get(p, pacing["qq"])) for p, n in per_platform.items()
    )
    ahead = (
        await session.exec(
            select(OutboxItem.id).where(col(OutboxItem.state).in_([OUT_PENDING, OUT_SENDING]))
        )
    ).all()
    labels = [await group_label(session, g) for g in groups]
    await audit(session, actor, "broadcast_preview", f"#{bc.id} {scope.label} groups={len(groups)}")
    return Preview(
        bc, labels, recent is not None, estimate,
        None if urgent else quiet_until(now, quiet), len(ahead),
    )


async def pending_previews(session: AsyncSession, actor: str) -> list[Broadcast]:
    """The actor's own previews still waiting for /确认 or /取消, oldest first."""
    rows = await session.exec(
        select(Broadcast)
        .where(col(Broadcast.created_by) == actor, col(Broadcast.state) == BC_PREVIEW)
        .order_by(col(Broadcast.id))
    )
    return list(rows.all())


async def _not_cancelled(
    session: AsyncSession, actor: str, number: int, now: datetime, superuser: bool
) -> Broadcast:
    """The broadcast ``actor`` may still confirm or cancel: their own (or any, for
    an admin or a superuser), not cancelled yet."""
    bc = await session.get(Broadcast, number)
    if bc is None:
        raise BroadcastError("not_found", number=number)
    if not superuser and bc.created_by != actor and ADMIN not in await roles_of_account(
        session, actor, now
    ):
        raise BroadcastError("not_yours", number=number)
    if bc.state == BC_CANCELLED:
        raise BroadcastError("already_cancelled", number=number)
    return bc


async def confirm(
    session: AsyncSession,
    delivery: Delivery,
    *,
    actor: str,
    number: int,
    now: datetime,
    quiet: str,
    superuser: bool = False,
) -> tuple[Broadcast, int]:
    bc = await _not_cancelled(session, actor, number, now, superuser)
    if bc.state == BC_CONFIRMED:
        raise BroadcastError("already_confirmed", number=number)
    held = None if bc.urgent else quiet_until(now, quiet)
    claimed = await session.exec(
        update(Broadcast)
        .where(col(Broadcast.id) == bc.id, col(Broadcast.state) == BC_PREVIEW)
        .values(state=BC_CONFIRMED, confirmed_at=now, not_before=held)
    )
    if (claimed.rowcount or 0) != 1:  # confirmed twice at once: only one wins
        raise BroadcastError("already_confirmed", number=number)
    ids = json.loads(bc.targets)
    groups = (await session.exec(select(ChatGroup).where(col(ChatGroup.id).in_(ids)))).all()
    for g in groups:
        # Queued in this transaction: the broadcast and its deliveries commit together.
        await delivery.to_group(
            g, bc.text, session=session, source=f"broadcast:{bc.id}",
            priority=URGENT_PRIORITY if bc.urgent else 0, not_before=held,
        )
    await audit(session, actor, "broadcast_confirm", f"#{bc.id} groups={len(groups)}")
    return bc, len(groups)


async def cancel(
    session: AsyncSession, outbox: Outbox, *, actor: str, number: int, now: datetime,
    superuser: bool = False,
) -> tuple[Broadcast, int]:
    bc = await _not_cancelled(session, actor, number, now, superuser)
    stopped = await outbox.cancel(session, f"broadcast:{bc.id}")
    bc.state = BC_CANCELLED
    session.add(bc)
    await audit(session, actor, "broadcast_cancel", f"#{bc.id} stopped={stopped}")
    return bc, stopped


@dataclass
class DeliveryReport:
    broadcast: Broadcast
    counts: dict[str, int]
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # label, state, error
    acked: int = 0

    @property
    def done(self) -> bool:
        return not (self.counts.get(OUT_PENDING) or self.counts.get(OUT_SENDING))


async def delivery_report(session: AsyncSession, number: int) -> DeliveryReport:
    bc = await session.get(Broadcast, number)
    if bc is None:
        raise BroadcastError("not_found", number=number)
    items = (
        await session.exec(select(OutboxItem).where(OutboxItem.source == f"broadcast:{bc.id}"))
    ).all()
    counts: dict[str, int] = {}
    problems = []
    for it in items:
        counts[it.state] = counts.get(it.state, 0) + 1
        if it.state in ("failed", "unknown"):
            g = await session.get(ChatGroup, it.chat_group_id) if it.chat_group_id else None
            label = await group_label(session, g) if g else it.target
            problems.append((label, it.state, it.error))
    acked = len(
        (await session.exec(select(BroadcastAck).where(BroadcastAck.broadcast_id == bc.id))).all()
    )
    return DeliveryReport(bc, counts, problems, acked)


async def has_unsettled(session: AsyncSession, source: str) -> bool:
    row = (
        await session.exec(
            select(OutboxItem.id)
            .where(
                OutboxItem.source == source,
                col(OutboxItem.state).in_([OUT_PENDING, OUT_SENDING]),
            )
            .limit(1)
        )
    ).first()
    return row is not None


async def claim_report(session: AsyncSession, number: int, now: datetime) -> bool:
    """Exactly one finished item gets to send the 'all done' report."""
    result = await session.exec(
        update(Broadcast)
        .where(col(Broadcast.id) == number, col(Broadcast.reported_at).is_(None))
        .values(reported_at=now)
    )
    return (result.rowcount or 0) == 1


# --- syntax ------------------------------------------------------------------

_SCOPE_PREFIX = re.compile(r"^\s*范围\s*[:：]?\s*(\S+)\s+(.*)$", re.S)
_NUMBER = re.compile(r"^\s*[#＃]?\s*([0-9０-９]{1,9})\s*$")


@dataclass(frozen=True)
class BroadcastArgs:
    scope: str | None
    text: str
    ack: bool


def parse_broadcast(raw: str) -> BroadcastArgs | None:
    """`[范围 <范围>] [需回执] <内容>`; the content keeps its own line breaks."""
    raw = raw.strip()
    scope = None
    m = _SCOPE_PREFIX.match(raw)
    if m:
        scope, raw = m.group(1), m.group(2).strip()
    ack = False
    if raw.startswith("需回执"):
        ack, raw = True, raw[len("需回执") :].strip()
    if not raw:
        return None
    return BroadcastArgs(scope, raw, ack)


def parse_number(raw: str) -> int | None:
    m = _NUMBER.match(raw)
    if not m:
        return None
    return int(unicodedata.normalize("NFKC", m.group(1)))
