"""Spot checks (抽查): reported figures confirmed by a second person.

``/抽查 #N [数量]`` draws reported units of an open round at random; for each, the
building's 楼长 (when not the reporter) or else a staff member whose grant covers
the unit is asked privately to confirm the figures; ``/核实 <编号> 属实|不符 [说明]``
records the answer. ``/进度`` and the export show the results. Units whose report
trips a 需核实 rule (``plugins.checkin.signals``) are drawn first.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, true
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.scheduler import add_item
from ground.grammar import MAX_NOTE_LENGTH, normalize
from ground.timeutil import as_utc
from plugins.checkin.service import CheckinError, Counts
from storage.models import (
    Account,
    Building,
    CheckinReport,
    CheckinRound,
    CheckinRoundUnit,
    Person,
    RoleGrant,
    SpotCheck,
    Unit,
)
from storage.models_checkin import ROUND_OPEN
from storage.places import SPECIFICITY, Place, leaders_of, place_of
from storage.repo import STAFF, audit

DEFAULT_DRAW, MAX_DRAW = 3, 20
# An unanswered check is reminded once, then escalated to whoever asked for it.
KIND_SPOT_REMIND = "checkin.spot_remind"
KIND_SPOT_ESCALATE = "checkin.spot_escalate"
REMIND_AFTER = timedelta(hours=2)
ESCALATE_AFTER = timedelta(hours=4)
VERDICTS = {"属实": "属实", "真实": "属实", "一致": "属实", "不符": "不符", "不实": "不符",
            "不一致": "不符"}
_DRAW_RE = re.compile(r"^(?:[#＃]\s?(?P<r>\d{1,7}))?\s*(?P<n>\d{1,3})?$")
_ANSWER_RE = re.compile(r"^[#＃]?\s?(?P<id>\d{1,9})\s*(?P<v>\S+?)(?:\s+(?P<note>.*))?$", re.S)


@dataclass(frozen=True)
class DrawArgs:
    round_no: int | None
    count: int


@dataclass(frozen=True)
class AnswerArgs:
    number: int
    verdict: str
    note: str


def parse_draw(text: str) -> DrawArgs | None:
    """``[#N] [数量]`` (1..20, default 3)."""
    m = _DRAW_RE.match(normalize(text))
    if m is None:
        return None
    count = int(m["n"]) if m["n"] else DEFAULT_DRAW
    if not 1 <= count <= MAX_DRAW:
        return None
    return DrawArgs(int(m["r"]) if m["r"] else None, count)


def parse_answer(text: str) -> AnswerArgs | None:
    """``<编号> 属实|不符 [说明]``."""
    m = _ANSWER_RE.match(normalize(text))
    if m is None or m["v"] not in VERDICTS:
        return None
    note = " ".join((m["note"] or "").split())
    if len(note) > MAX_NOTE_LENGTH:
        return None
    return AnswerArgs(int(m["id"]), VERDICTS[m["v"]], note)


@dataclass
class Asked:
    check: SpotCheck
    label: str
    counts: Counts
    checker_name: str
    items: tuple = ()  # its reminder and escalation, to arm after the commit
    signals: tuple[str, ...] = ()  # the 需核实 rules its report tripped


async def _checker(
    session: AsyncSession, place: Place, reporter: str, now: datetime
) -> tuple[str, str] | None:
    """Who confirms: the building's 楼长 unless they reported it, else the staff member
    whose grant covers the unit most narrowly (grid before community before all)."""
    _, by_building = await leaders_of(session, [], [place.building_id], now)
    for leader in by_building.get(place.building_id, []):
        if reporter not in leader.accounts and leader.accounts:
            return leader.accounts[0], leader.name
    rows = (await session.exec(
        select(RoleGrant.scope_kind, RoleGrant.scope_id, Person.name, Account.id)
        .join(Person, col(Person.id) == RoleGrant.person_id)
        .join(Account, col(Account.person_id) == Person.id)
        .where(RoleGrant.role == STAFF,
               or_(col(RoleGrant.expires_at).is_(None), col(RoleGrant.expires_at) > as_utc(now)))
    )).all()
    staff = sorted(
        (-SPECIFICITY.get(kind, 0), account, name) for kind, scope_id, name, account in rows
        if account != reporter and place.covers(kind, scope_id)
    )
    return (staff[0][1], staff[0][2]) if staff else None


async def draw(
    session: AsyncSession, rnd: CheckinRound, count: int, *, actor: str, now: datetime,
    rng: random.Random, flagged: dict[int, list[str]] | None = None,
) -> tuple[list[Asked], list[str]]:
    """Draw up to ``count`` reported units without an open spot check, units with a
    需核实 signal (``flagged``) first; returns the checks asked and the units nobody
    could be asked about."""
    if rnd.state != ROUND_OPEN:
        raise CheckinError("round_closed", round_id=rnd.id)
    open_check = select(SpotCheck.id).where(
        col(SpotCheck.round_id) == rnd.id, col(SpotCheck.unit_id) == CheckinReport.unit_id,
        col(SpotCheck.verdict).is_(None)).exists()
    RU = CheckinRoundUnit
    rows = (await session.exec(
        select(CheckinReport, RU.building_id, RU.grid_id, RU.community_id, Building.number,
               Unit.number)
        .join(RU, and_(col(RU.round_id) == CheckinReport.round_id,
                       col(RU.unit_id) == CheckinReport.unit_id))
        .join(Unit, col(Unit.id) == RU.unit_id)
        .join(Building, col(Building.id) == RU.building_id)
        .where(col(CheckinReport.round_id) == rnd.id, col(CheckinReport.is_current) == true(),
               ~open_check)
        .order_by(col(CheckinReport.unit_id))
    )).all()
    if not rows:
        raise CheckinError("nothing_to_check", round_id=rnd.id)
    flagged = flagged or {}
    hot = [r for r in rows if r[0].unit_id in flagged]
    cold = [r for r in rows if r[0].unit_id not in flagged]
    chosen = rng.sample(hot, min(count, len(hot)))
    chosen += rng.sample(cold, min(count - len(chosen), len(cold)))
    asked, nobody = [], []
    for report, b_id, g_id, c_id, b_no, u_no in chosen:
        label = f"{b_no}栋{u_no}单元"
        who = await _checker(session, Place(report.unit_id, b_id, g_id, c_id), report.reporter,
                             now)
        if who is None:
            nobody.append(label)
            continue
        check = SpotCheck(round_id=rnd.id, unit_id=report.unit_id, report_id=report.id,
                          checker=who[0], asked_by=actor, asked_at=as_utc(now))
        session.add(check)
        await session.flush()
        assert check.id is not None
        items = (await add_item(session, KIND_SPOT_REMIND, check.id, now + REMIND_AFTER),
                 await add_item(session, KIND_SPOT_ESCALATE, check.id, now + ESCALATE_AFTER))
        asked.append(Asked(check, label, Counts.of(report), who[1], items,
                           tuple(flagged.get(report.unit_id, ()))))
    await audit(session, actor, "spot_check", f"#{rnd.id} asked={len(asked)}", at=now)
    return asked, nobody


@dataclass
class Answered:
    check: SpotCheck
    label: str
    round: CheckinRound


async def _described(session: AsyncSession, check: SpotCheck) -> Answered:
    """A check with its round and its unit's label, for what is said about it."""
    rnd = await session.get(CheckinRound, check.round_id)
    place = await place_of(session, check.unit_id)
    assert rnd is not None and place is not None  # both are foreign keys of the check
    return Answered(check, place.label, rnd)


async def pending(session: AsyncSession, check_id: int) -> Answered | None:
    """A check still waiting for its answer (for its reminder and escalation)."""
    check = await session.get(SpotCheck, check_id)
    if check is None or check.verdict is not None:
        return None
    return await _described(session, check)


async def answer(
    session: AsyncSession, args: AnswerArgs, *, account: str, now: datetime,
) -> Answered:
    """Record the checker's answer (a second answer replaces the first)."""
    check = await session.get(SpotCheck, args.number)
    if check is None or check.checker != account:
        raise CheckinError("spot_not_found", number=args.number)
    check.verdict, check.note, check.answered_at = args.verdict, args.note, as_utc(now)
    session.add(check)
    await audit(session, account, "spot_answer",
                f"#{check.round_id} check={check.id} verdict={args.verdict}", at=now)
    return await _described(session, check)


@dataclass(frozen=True)
class SpotSummary:
    asked: int
    confirmed: int
    mismatched: list[str]  # units whose figures were found not to match
    waiting: int


async def summary(session: AsyncSession, round_id: int) -> SpotSummary | None:
    """For /进度 and the export; None when the round had no spot check."""
    rows = (await session.exec(
        select(SpotCheck.verdict, Building.number, Unit.number)
        .join(Unit, col(Unit.id) == SpotCheck.unit_id)
        .join(Building, col(Building.id) == Unit.building_id)
        .where(col(SpotCheck.round_id) == round_id)
        .order_by(Building.number, Unit.number)
    )).all()
    if not rows:
        return None
    return SpotSummary(
        asked=len(rows), confirmed=sum(1 for v, _, _ in rows if v == "属实"),
        mismatched=[f"{b}栋{u}单元" for v, b, u in rows if v == "不符"],
        waiting=sum(1 for v, _, _ in rows if v is None),
    )


async def checks_of(session: AsyncSession, round_id: int) -> list[tuple]:
    """Every spot check of a round for the export: unit, verdict, note, times."""
    return list((await session.exec(
        select(Building.number, Unit.number, SpotCheck.checker, SpotCheck.verdict,
               SpotCheck.note, SpotCheck.asked_at, SpotCheck.answered_at)
        .join(Unit, col(Unit.id) == SpotCheck.unit_id)
        .join(Building, col(Building.id) == Unit.building_id)
        .where(col(SpotCheck.round_id) == round_id)
        .order_by(col(SpotCheck.id))
    )).all())


