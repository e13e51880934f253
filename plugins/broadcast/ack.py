"""Acknowledgements of broadcasts sent with `需回执`: a plain "收到" in a resident
group counts for the newest such broadcast delivered there in the last 3 days;
``ack_chase_minutes`` after sending, each silent group gets one reminder that
@-mentions its leaders, and the sender a private summary.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timedelta

from sqlalchemy import or_
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.platforms import Mention
from bot.runtime import Runtime
from bot.scheduler import add_item, as_utc
from plugins._common.rows import first_where
from plugins.broadcast.service import group_label, group_unit_ids, quiet_until
from storage.models import ChatGroup, Person, RoleGrant, ScheduledItem
from storage.models_broadcast import BC_CONFIRMED, Broadcast, BroadcastAck
from storage.models_outbox import OUT_SENT, OUT_UNKNOWN, OutboxItem
from storage.repo import (
    BUILDING_LEADER,
    UNIT_LEADER,
    Scope,
    accounts_of,
    group_binding,
    units_in,
)

log = logging.getLogger("gridbot.broadcast")

KIND_CHASE = "broadcast.chase"
ACK_WINDOW = timedelta(days=3)
ACK_WORDS = frozenset({"收到", "已收到", "收到了"})
# `unknown` counts as delivered here: if someone answers, it arrived.
DELIVERED = (OUT_SENT, OUT_UNKNOWN)
CHASE_SOURCE = "ackchase"  # not "broadcast:": that prefix's outbox hook parses a number
_TRAILING = re.compile(r"[\s!！。.~～]+$")


def is_ack_text(text: str) -> bool:
    return _TRAILING.sub("", text.strip()) in ACK_WORDS


def _broadcast_id(source: str) -> int | None:
    kind, _, number = source.partition(":")
    return int(number) if kind == "broadcast" and number.isdigit() else None


async def awaiting_ack(
    session: AsyncSession, *, platform: str, group_id: str, now: datetime
) -> tuple[Broadcast, ChatGroup] | None:
    """The broadcast a "收到" in this group would acknowledge, if any is still open."""
    group = await group_binding(session, platform, group_id)
    if group is None:
        return None
    delivered = (
        await session.exec(
            select(OutboxItem.source)
            .where(
                OutboxItem.chat_group_id == group.id,
                col(OutboxItem.source).startswith("broadcast:"),
                col(OutboxItem.state).in_(DELIVERED),
                col(OutboxItem.finished_at) >= as_utc(now) - ACK_WINDOW,
            )
            .order_by(col(OutboxItem.id).desc())
        )
    ).all()
    ids = {n for n in map(_broadcast_id, delivered) if n is not None}
    if not ids:
        return None
    bc = (
        await session.exec(
            select(Broadcast)
            .where(
                col(Broadcast.id).in_(ids),
                Broadcast.ack_required == True,  # noqa: E712
                Broadcast.state == BC_CONFIRMED,
            )
            .order_by(col(Broadcast.id).desc())
        )
    ).first()
    if bc is None:
        return None
    done = await first_where(
        session, BroadcastAck,
        BroadcastAck.broadcast_id == bc.id, BroadcastAck.chat_group_id == group.id,
    )
    if done is not None:
        return None  # the group's first "收到" is its acknowledgement
    return bc, group


async def record_ack(
    session: AsyncSession, *, platform: str, group_id: str, account: str, now: datetime
) -> BroadcastAck | None:
    """Record a group's "收到"; None when there is nothing (new) to acknowledge."""
    found = await awaiting_ack(session, platform=platform, group_id=group_id, now=now)
    if found is None:
        return None
    bc, group = found
    assert bc.id is not None and group.id is not None
    ack = BroadcastAck(broadcast_id=bc.id, chat_group_id=group.id, acked_by=account, acked_at=now)
    session.add(ack)
    await session.flush()
    return ack


async def schedule_chase(
    session: AsyncSession, bc: Broadcast, now: datetime, minutes: int
) -> ScheduledItem | None:
    """At confirm time: the chase of an ack-required broadcast, counted from when
    it actually starts going out (quiet hours may hold it until morning)."""
    if not bc.ack_required or bc.id is None:
        return None
    start = as_utc(bc.not_before) if bc.not_before else as_utc(now)
    return await add_item(session, KIND_CHASE, bc.id, start + timedelta(minutes=minutes))


async def group_leaders(session: AsyncSession, group: ChatGroup, now: datetime) -> list[Mention]:
    """单元长/楼长 whose grant scope lies inside the group's scope, as mentions on the
    group's platform (building leaders first). Leaders only, never residents."""
    covered = await group_unit_ids(session, group)
    grants = (
        await session.exec(
            select(RoleGrant)
            .where(
                col(RoleGrant.role).in_((BUILDING_LEADER, UNIT_LEADER)),
                or_(col(RoleGrant.expires_at).is_(None), col(RoleGrant.expires_at) > now),
            )
            .order_by(RoleGrant.id)
        )
    ).all()
    ranked: list[tuple[int, int, int]] = []  # (role rank, first unit, person)
    for g in grants:
        units = {u.id for _, u in await units_in(session, Scope(g.scope_kind, (g.scope_id,), ""))}
        if units and units <= covered:
            rank = 0 if g.role == BUILDING_LEADER else 1
            ranked.append((rank, min(u for u in units if u is not None), g.person_id))
    mentions: list[Mention] = []
    for _, _, person_id in sorted(ranked):
        person = await session.get(Person, person_id)
        for account in await accounts_of(session, person_id):
            m = Mention(account, person.name if person else "")
            if account.startswith(f"{group.platform}:") and m not in mentions:
                mentions.append(m)
    return mentions


async def on_chase(rt: Runtime, item: ScheduledItem) -> None:
    now = rt.now()
    async with rt.db.write() as s:
        bc = await s.get(Broadcast, item.ref_id)
        if bc is None or bc.state != BC_CONFIRMED or not bc.ack_required:
            return
        claimed = await s.exec(
            update(Broadcast)
            .where(col(Broadcast.id) == bc.id, col(Broadcast.chased_at).is_(None))
            .values(chased_at=now)
        )
        if (claimed.rowcount or 0) != 1:
            return  # chased once already
        acked = set(
            (
                await s.exec(
                    select(BroadcastAck.chat_group_id).where(BroadcastAck.broadcast_id == bc.id)
                )
            ).all()
        )
        # Only groups the broadcast reached: a failed send is in the sender's report.
        reached = set(
            (
                await s.exec(
                    select(OutboxItem.chat_group_id).where(
                        OutboxItem.source == f"broadcast:{bc.id}",
                        col(OutboxItem.state).in_(DELIVERED),
                    )
                )
            ).all()
        )
        targets = json.loads(bc.targets)
        silent = (
            await s.exec(
                select(ChatGroup)
                .where(col(ChatGroup.id).in_([t for t in targets if t in reached - acked]))
                .order_by(ChatGroup.id)
            )
        ).all()
        sent_at = bc.not_before or bc.confirmed_at
        text = rt.renderer.render("broadcast/ack_chase", bc=bc, sent_at=sent_at)
        # Like the broadcast itself: an ordinary one's chase waits for the morning.
        held = None if bc.urgent else quiet_until(now, rt.settings.quiet_hours)
        for group in silent:
            leaders = await group_leaders(s, group, now)
            await rt.delivery.to_group(
                group, text, leaders, session=s, source=f"{CHASE_SOURCE}:{bc.id}",
                not_before=held,
            )
        labels = [await group_label(s, g) for g in silent]
        summary = rt.renderer.render(
            "broadcast/ack_chased", bc=bc, total=len(targets), acked=len(acked), silent=labels
        )
        await rt.delivery.to_account(
            bc.created_by, summary, session=s, source=f"{CHASE_SOURCE}:{bc.id}"
        )
