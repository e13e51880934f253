"""The trigger chain (``/预警 <地区>``): acknowledgements and the screening round.

A local case linked to a region starts the chain (DESIGN.md §1: within 2 hours
of a case; screening everyone from that region within 2 days):

- every work group must acknowledge with ``/收到 <编号>`` within 2 h; silent
  groups are reminded at +1 h 30 min and escalated to the 综合协调组 at +2 h;
- a check-in round ``来自<地区>人员排查`` over all units closes in 48 h (its own
  80 % reminder and deadline summary apply); at +48 h unreported units are
  escalated to the 综合协调组 too.

Plain async functions over a session. Each either changes the database and
returns what it did, or raises ``AlertError`` before it has written anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.kit import CommandError
from bot.scheduler import add_item, as_utc, cancel_items
from ground.grammar import normalize, parse_building, parse_unit
from plugins._common import targets
from plugins.checkin import service as checkin
from plugins.checkin.service import CheckinError
from storage.models import ChatGroup, CheckinRound, CheckinRoundUnit, ScheduledItem
from storage.models_deadlines import Alert, AlertAck
from storage.repo import ALL, audit

KIND_ACK_REMIND = "alert.ack_remind"
KIND_ACK_DEADLINE = "alert.ack_deadline"
KIND_ROUND_DEADLINE = "alert.round_deadline"
ACK_KINDS = (KIND_ACK_REMIND, KIND_ACK_DEADLINE)
KINDS = (KIND_ACK_REMIND, KIND_ACK_DEADLINE, KIND_ROUND_DEADLINE)
ACK_WINDOW = timedelta(hours=2)
ACK_REMIND_AFTER = timedelta(hours=1, minutes=30)
ROUND_WINDOW = timedelta(hours=48)
MAX_REGION_LENGTH = 20
UNIT_LIST_LIMIT = 40  # an escalation names this many unreported units; /未报 has them all

# A region is a place name: letters (CJK included), digits, a few separators;
# at least one non-digit, so a bare number is not mistaken for one.
_REGION_RE = re.compile(r"[\w·()\-]+")
_HAS_LETTER_RE = re.compile(r"[^\W\d_]")
_NUMBER_RE = re.compile(r"#?\s?([0-9]{1,9})")


class AlertError(CommandError):
    template = "alerts/error"


def round_title(region: str) -> str:
    return f"来自{region}人员排查"


def parse_region(text: str) -> str | None:
    region = normalize(text).replace(" ", "")
    if not region or len(region) > MAX_REGION_LENGTH:
        return None
    if not _REGION_RE.fullmatch(region) or not _HAS_LETTER_RE.search(region):
        return None
    if parse_unit(region) is not None or parse_building(region) is not None:
        return None  # `/预警 3栋2单元`: a place of ours, not where people come from
    return region


def parse_number(text: str) -> int | None:
    """``<编号>`` / ``#编号``; empty gives 0 (= "the one open for this group")."""
    norm = normalize(text)
    if not norm:
        return 0
    m = _NUMBER_RE.fullmatch(norm)
    if not m or int(m.group(1)) < 1:
        return None
    return int(m.group(1))


# --- starting the chain -----------------------------------------------------------------------


@dataclass
class Started:
    alert: Alert
    groups: list[ChatGroup]  # the work groups that must acknowledge
    labels: list[str]
    opened: checkin.Opened
    items: list[ScheduledItem] = field(default_factory=list)  # ours and the round's


async def start(session: AsyncSession, *, actor: str, region: str, now: datetime) -> Started:
    now = as_utc(now)
    groups = await targets.work_groups(session)
    if not groups:
        raise AlertError("no_work_groups")
    alert = Alert(
        region=region, created_by=actor, created_at=now, ack_deadline=now + ACK_WINDOW,
        round_deadline=now + ROUND_WINDOW,
    )
    session.add(alert)
    await session.flush()
    assert alert.id is not None
    labels = []
    for group in groups:
        assert group.id is not None
        label = await targets.group_label(session, group)
        labels.append(label)
        session.add(AlertAck(alert_id=alert.id, chat_group_id=group.id, label=label))
    try:
        opened = await checkin.open_round(
            session, actor=actor, title=round_title(region), scope=ALL,
            deadline=alert.round_deadline, now=now,
        )
    except CheckinError as err:  # no units imported yet
        raise AlertError("no_units") from err
    alert.round_id = opened.round.id
    session.add(alert)
    items = [
        await add_item(session, KIND_ACK_REMIND, alert.id, now + ACK_REMIND_AFTER),
        await add_item(session, KIND_ACK_DEADLINE, alert.id, alert.ack_deadline),
        await add_item(session, KIND_ROUND_DEADLINE, alert.id, alert.round_deadline),
    ]
    await audit(
        session, actor, "alert_start",
        f"#{alert.id} region={region} work_groups={len(groups)} round=#{opened.round.id}",
    )
    return Started(alert, groups, labels, opened, items + list(opened.items))


# --- acknowledging ----------------------------------------------------------------------------


@dataclass
class Acked:
    alert: Alert
    ack: AlertAck
    minutes: int
    late: bool
    remaining: int  # work groups still silent
    total: int
    cancelled: list[ScheduledItem]  # reminder/escalation no longer needed


async def _acks(session: AsyncSession, alert_id: int) -> list[AlertAck]:
    rows = await session.exec(
        select(AlertAck).where(AlertAck.alert_id == alert_id).order_by(AlertAck.chat_group_id)
    )
    return list(rows.all())


async def silent(session: AsyncSession, alert_id: int) -> list[AlertAck]:
    return [a for a in await _acks(session, alert_id) if a.acked_at is None]


async def acknowledge(
    session: AsyncSession, *, group: ChatGroup | None, number: int, account: str, now: datetime
) -> Acked:
    """``/收到 <编号>`` in a work group; number 0 = the one alert this group owes."""
    if group is None or group.kind != "work":
        raise AlertError("not_work_group")
    assert group.id is not None
    now = as_utc(now)
    if number == 0:
        owed = (
            await session.exec(
                select(AlertAck.alert_id).where(
                    AlertAck.chat_group_id == group.id, col(AlertAck.acked_at).is_(None)
                ).order_by(AlertAck.alert_id)
            )
        ).all()
        if not owed:
            raise AlertError("nothing_owed")
        if len(owed) > 1:
            raise AlertError("ambiguous", numbers=list(owed))
        number = owed[0]
    alert = await session.get(Alert, number)
    if alert is None:
        raise AlertError("not_found", number=number)
    ack = await session.get(AlertAck, (number, group.id))
    if ack is None:
        raise AlertError("not_addressed", number=number)
    if ack.acked_at is not None:
        raise AlertError("already_acked", number=number, at=ack.acked_at, minutes=ack.ack_minutes)
    minutes = max(0, int((now - as_utc(alert.created_at)).total_seconds() // 60))
    ack.acked_at, ack.acked_by, ack.ack_minutes = now, account, minutes
    session.add(ack)
    await session.flush()
    acks = await _acks(session, number)
    remaining = sum(1 for a in acks if a.acked_at is None)
    cancelled = await cancel_items(session, ACK_KINDS, number) if remaining == 0 else []
    await audit(session, account, "alert_ack", f"#{number} group={group.id} minutes={minutes}")
    return Acked(
        alert, ack, minutes, now > as_utc(alert.ack_deadline), remaining, len(acks), cancelled
    )


# --- what the scheduler needs -----------------------------------------------------------------


@dataclass
class Silent:
    alert: Alert
    acks: list[AlertAck]  # the silent ones
    groups: list[ChatGroup]  # those still bound
    total: int


async def silent_groups(session: AsyncSession, alert_id: int) -> Silent | None:
    alert = await session.get(Alert, alert_id)
    if alert is None:
        return None
    acks = await _acks(session, alert_id)
    quiet = [a for a in acks if a.acked_at is None]
    groups = []
    for ack in quiet:
        group = await session.get(ChatGroup, ack.chat_group_id)
        if group is not None and group.kind == "work":
            groups.append(group)
    return Silent(alert, quiet, groups, len(acks))


@dataclass
class RoundState:
    alert: Alert
    round: CheckinRound
    missing: list[checkin.MissingUnit]
    units: int


async def round_state(session: AsyncSession, alert_id: int, now: datetime) -> RoundState | None:
    alert = await session.get(Alert, alert_id)
    if alert is None or alert.round_id is None:
        return None
    rnd = await session.get(CheckinRound, alert.round_id)
    if rnd is None:
        return None
    missing = await checkin.missing_units(session, alert.round_id, now)
    units = (
        await session.exec(
            select(func.count()).where(CheckinRoundUnit.round_id == alert.round_id)
        )
    ).one()
    return RoundState(alert, rnd, missing, int(units))
