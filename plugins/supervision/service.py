"""The duty record (督查): who did their duty on time, derived at query time from the
tables that already hold the facts (nothing is copied). Each obligation whose due
moment fell in the period (and has passed) is one row:

- 排查打卡: each unit of each round; the unit's leader (单元长, else 楼长); due at the
  round's deadline, done at its first report. Reminded when the round's 80 % reminder
  fired before the report, escalated when the deadline summary to staff did.
  A round ended (``/结束``) before its deadline cancels what was still unreported; a
  unit with no registered household in the round's snapshot is exempt unless it reported.
  (Manual ``/催报`` chases are not recorded per unit anywhere, so they are not counted.)
- 定期任务: each unit of each occurrence of a recurring duty (``/任务``); due by the end
  of the day it falls on; chased when the day's laggard reminder fired before it was
  done. A duty stopped before that cancels the rest.
- 事件受理: each incident, acknowledged within ``incident_escalate_minutes`` (15) of
  its report by the 应急小分队; escalated when the scheduler escalated it.
- 协查: each 协查函, done within 24 h by the 流调组; reminders are the ones that fired
  before it was done.
- 预警确认: each work group addressed by a ``/预警``, acknowledged within 2 h; a group
  unbound since, and silent, is cancelled (nobody could acknowledge for it).

Outcomes: on time, late (by how many minutes) or missed; exempt and cancelled rows
are labelled and not counted. Plain async functions over a session, and pure ones.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import and_, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from ground.grammar import normalize
from ground.timeutil import SHANGHAI, as_utc, local
from storage.models import (
    Account,
    AuditLog,
    Building,
    ChatGroup,
    CheckinReport,
    CheckinRound,
    CheckinRoundUnit,
    Community,
    Grid,
    RoleGrant,
    ScheduledItem,
    Unit,
)
from storage.models import Person as RosterPerson
from storage.models_checkin import ITEM_DONE
from storage.models_deadlines import Alert, AlertAck, AssistTask
from storage.models_events import Duty, DutyOccurrence, DutyUnit, Incident
from storage.models_publicity import Policy, PolicyStudy
from storage.places import Place, leaders_by_unit
from storage.repo import ADMIN, STAFF, Scope

if TYPE_CHECKING:
    from plugins.supervision.signals import Signal

ON_TIME, LATE, MISSED = "on_time", "late", "missed"
EXEMPT, CANCELLED = "exempt", "cancelled"  # labelled, never counted as missed
EXCUSED = (EXEMPT, CANCELLED)

CHECKIN, DUTY, INCIDENT, ASSIST, ALERT, POLICY = (
    "排查打卡", "定期任务", "事件受理", "协查", "预警确认", "政策学习")
KINDS = (CHECKIN, DUTY, INCIDENT, ASSIST, ALERT, POLICY)
# Obligations of the communities' own people, summarised by community and grid.
UNIT_KINDS = (CHECKIN, DUTY)

RESPONSE_TEAM = "应急小分队"
TRACING_TEAM = "流调组"
WORK_GROUP_ROLE = "工作群"

# Scheduler item kinds of the other capabilities, read (never written) here.
CHECKIN_REMIND, CHECKIN_DEADLINE = "checkin.remind", "checkin.deadline"
CHECKIN_CHASE = "checkin_chase"  # the audit action of /催报
DUTY_CHASE = "duty.chase"
ASSIST_REMIND = "assist.remind"
ALERT_ACK_REMIND = "alert.ack_remind"
POLICY_REMIND = "policy.remind"
STAFF_ROLE = "工作人员"

_SPAN_RE = re.compile(
    r"^(?:(?P<ay>\d{4})-)?(?P<a>\d{1,2})-(?P<ad>\d{1,2})\s*(?:至|到|~|-)\s*"
    r"(?:(?P<by>\d{4})-)?(?P<b>\d{1,2})-(?P<bd>\d{1,2})$")


@dataclass(frozen=True)
class Period:
    start: datetime  # aware, inclusive
    end: datetime  # aware, exclusive
    label: str


def _midnight(d: date) -> datetime:
    return datetime.combine(d, time(0), tzinfo=SHANGHAI)


def parse_period(text: str, now: datetime) -> Period | None:
    """``本周`` (default) ``上周`` ``本月`` ``上月`` or ``11-01至11-30`` (local dates of
    this year; ``2025-12-01至2026-01-31`` names the years, as the console's form does)."""
    t = normalize(text).replace(" ", "") or "本周"
    today = local(now).date()
    monday = today - timedelta(days=today.weekday())
    first = today.replace(day=1)
    if t == "本周":
        return Period(_midnight(monday), _midnight(today + timedelta(days=1)), "本周")
    if t == "上周":
        return Period(_midnight(monday - timedelta(days=7)), _midnight(monday), "上周")
    if t == "本月":
        return Period(_midnight(first), _midnight(today + timedelta(days=1)), "本月")
    if t == "上月":
        last_first = (first - timedelta(days=1)).replace(day=1)
        return Period(_midnight(last_first), _midnight(first), "上月")
    m = _SPAN_RE.match(t)
    if m is None:
        return None
    try:
        a = date(int(m["ay"] or today.year), int(m["a"]), int(m["ad"]))
        b = date(int(m["by"] or m["ay"] or today.year), int(m["b"]), int(m["bd"]))
    except ValueError:
        return None
    if a > b or (b - a).days > 366:
        return None
    return Period(_midnight(a), _midnight(b + timedelta(days=1)), f"{a:%m-%d}至{b:%m-%d}")


def parse_args(text: str, now: datetime) -> tuple[Period, str] | None:
    """``[时段] [范围]``: the period (``parse_period``; 本周 when omitted) and the scope's
    text ("" when none), or None when the period does not parse."""
    words = normalize(text).split()
    for cut in range(len(words), -1, -1):  # the longest leading period wins
        period = parse_period(" ".join(words[:cut]), now)
        if period is not None:
            return period, " ".join(words[cut:])
    return None


def recent_weeks(now: datetime, n: int = 8) -> list[Period]:
    """The ``n`` weeks (Monday to Sunday) up to this one, oldest first."""
    monday = local(now).date() - timedelta(days=local(now).weekday())
    return [
        Period(_midnight(m), _midnight(m + timedelta(days=7)), f"{m:%m-%d}")
        for m in (monday - timedelta(days=7 * i) for i in range(n - 1, -1, -1))
    ]


def rates_by_grid(
    weeks: list[Period], obligations: list[Obligation],
) -> tuple[list[str], list[tuple[str, list[int | None]]]]:
    """On-time rate (%) of each grid's 排查打卡 and 定期任务 in each week (None: nothing
    due that week): the week labels and one series per grid."""
    tallies: dict[str, list[Tally]] = {}
    for o in obligations:
        if o.kind not in UNIT_KINDS:
            continue
        due = as_utc(o.due)
        for i, w in enumerate(weeks):
            if as_utc(w.start) <= due < as_utc(w.end):
                label = f"{o.community}/{o.grid}"
                row = tallies.setdefault(label, [Tally(w.label) for w in weeks])
                row[i].add(o)
                break
    series = [(label, [t.rate if t.total else None for t in row])
              for label, row in sorted(tallies.items())]
    return [w.label for w in weeks], series


def week_before(at: datetime) -> Period:
    """The seven local days before the day of ``at``: what a weekly report covers."""
    day = local(at).date()
    a = day - timedelta(days=7)
    b = day - timedelta(days=1)
    return Period(_midnight(a), _midnight(day), f"{a:%m-%d}至{b:%m-%d}")


@dataclass(frozen=True)
class Obligation:
    kind: str  # one of KINDS
    ref: str  # #3 3栋2单元 · 事件#2 · 函号 · 预警#1
    community: str
    grid: str
    person: str  # the responsible (or acting) person's name, "" when none
    role: str  # 单元长 · 楼长 · 应急小分队 · 流调组 · 工作群
    due: datetime
    done: datetime | None
    outcome: str  # on_time | late | missed | exempt | cancelled
    where: str = ""  # the unit or scope: 幸福社区/3栋2单元, 幸福社区/第一网格 工作群
    reminders: int = 0  # reminders and chases that went out before it was done
    escalated: bool = False
    note: str = ""  # why exempt or cancelled
    # For the scope filter and the drill-down (not in the XLSX): the unit it is about,
    # the scope of the work group addressed (预警), the responsible person's roster id.
    place: Place | None = None
    group_scope: tuple[str, int] | None = None
    person_id: int | None = None

    @property
    def late_minutes(self) -> int:
        if self.done is None or self.outcome != LATE:
            return 0
        return int((as_utc(self.done) - as_utc(self.due)).total_seconds() // 60)

    @property
    def counted(self) -> bool:
        return self.outcome not in EXCUSED


def judge(due: datetime, done: datetime | None) -> str:
    if done is None:
        return MISSED
    return ON_TIME if as_utc(done) <= as_utc(due) else LATE


def _before(fired: datetime | None, done: datetime | None) -> bool:
    """A reminder that fired while the obligation was still open."""
    return fired is not None and (done is None or as_utc(fired) < as_utc(done))


def _window(period: Period, now: datetime) -> tuple[datetime, datetime]:
    return as_utc(period.start), min(as_utc(period.end), as_utc(now))


async def _fired(
    session: AsyncSession, kind: str, ref_ids: Iterable[int]
) -> dict[int, list[datetime]]:
    """When the scheduler ran each owner's items of ``kind`` (done rows only)."""
    ids = sorted(set(ref_ids))
    if not ids:
        return {}
    rows = (await session.exec(
        select(ScheduledItem.ref_id, ScheduledItem.fired_at)
        .where(ScheduledItem.kind == kind, col(ScheduledItem.ref_id).in_(ids),
               ScheduledItem.state == ITEM_DONE, col(ScheduledItem.fired_at).is_not(None))
    )).all()
    out: dict[int, list[datetime]] = defaultdict(list)
    for ref_id, fired_at in rows:
        out[ref_id].append(fired_at)
    return out


async def _names(
    session: AsyncSession, accounts: Iterable[str | None]
) -> dict[str, tuple[str, int | None]]:
    """Roster name and person id by account (the account itself, no id, when unknown)."""
    wanted = sorted({a for a in accounts if a})
    if not wanted:
        return {}
    rows = (await session.exec(
        select(Account.id, RosterPerson.name, RosterPerson.id)
        .join(RosterPerson, col(RosterPerson.id) == Account.person_id)
        .where(col(Account.id).in_(wanted))
    )).all()
    found = {a: (name, pid) for a, name, pid in rows}
    return {a: found.get(a, (a, None)) for a in wanted}


_NOBODY: tuple[str, int | None] = ("", None)


async def _grid_names(session: AsyncSession, ids: Iterable[int]) -> dict[int, str]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    return dict((await session.exec(
        select(Grid.id, Grid.name).where(col(Grid.id).in_(wanted))
    )).all())


# --- 排查打卡 ----------------------------------------------------------------------------------


async def checkin_obligations(
    session: AsyncSession, period: Period, now: datetime,
) -> list[Obligation]:
    """Every unit of every round whose deadline fell in the period and has passed."""
    since, until = _window(period, now)
    RU = CheckinRoundUnit
    first = (
        select(CheckinReport.round_id, CheckinReport.unit_id,
               func.min(CheckinReport.reported_at).label("done"))
        .group_by(CheckinReport.round_id, CheckinReport.unit_id).subquery()
    )
    rows = (await session.exec(
        select(CheckinRound.id, CheckinRound.deadline, CheckinRound.closed_at, RU.unit_id,
               RU.building_id, RU.grid_id, RU.community_id, Building.number, Unit.number,
               Community.name, Grid.name, first.c.done, RU.households)
        .join(RU, col(RU.round_id) == CheckinRound.id)
        .join(Unit, col(Unit.id) == RU.unit_id)
        .join(Building, col(Building.id) == RU.building_id)
        .join(Community, col(Community.id) == RU.community_id)
        .join(Grid, col(Grid.id) == RU.grid_id)
        .outerjoin(first, and_(first.c.round_id == RU.round_id, first.c.unit_id == RU.unit_id))
        .where(col(CheckinRound.deadline) >= since, col(CheckinRound.deadline) < until)
        .order_by(CheckinRound.id, Community.name, Building.number, Unit.number)
    )).all()
    places = [Place(r[3], r[4], r[5], r[6]) for r in rows]
    leaders = await leaders_by_unit(session, places, now)
    round_ids = {r[0] for r in rows}
    reminded = await _fired(session, CHECKIN_REMIND, round_ids)
    for rid, at in (await session.exec(  # staff's /催报: a chase of every unit still open
        select(AuditLog.subject_id, AuditLog.at).where(
            AuditLog.action == CHECKIN_CHASE, AuditLog.subject_kind == "round",
            col(AuditLog.subject_id).in_(sorted(round_ids)))
    )).all():
        reminded[rid].append(at)
    escalated = await _fired(session, CHECKIN_DEADLINE, round_ids)
    out = []
    for (rid, deadline, closed_at, _u, _b, _g, _c, b_no, u_no, community, grid, done,
         households), place in zip(rows, places, strict=True):
        who = next(iter(leaders.get(place.unit_id, [])), None)
        outcome, note = judge(deadline, done), ""
        if outcome == MISSED and households == 0:
            outcome, note = EXEMPT, "无登记住户"
        elif (outcome == MISSED and closed_at is not None
                and as_utc(closed_at) < as_utc(deadline)):
            outcome, note = CANCELLED, "轮次提前结束"
        out.append(Obligation(
            CHECKIN, f"#{rid} {b_no}栋{u_no}单元", community, grid,
            who.name if who else "", who.role if who else "", deadline, done, outcome,
            where=f"{community}/{b_no}栋{u_no}单元",
            reminders=sum(_before(f, done) for f in reminded.get(rid, [])),
            escalated=outcome != CANCELLED and any(
                _before(f, done) for f in escalated.get(rid, [])),
            note=note, place=place, person_id=who.person_id if who else None,
        ))
    return out


# --- 定期任务 ----------------------------------------------------------------------------------


def duty_due(starts_at: datetime) -> datetime:
    """A duty is done the day it falls on: due at the next local midnight."""
    return as_utc(_midnight(local(starts_at).date() + timedelta(days=1)))


async def duty_obligations(
    session: AsyncSession, period: Period, now: datetime,
) -> list[Obligation]:
    since, until = _window(period, now)
    # An occurrence is due the day it starts: look one day back from the window.
    rows = (await session.exec(
        select(DutyOccurrence.id, DutyOccurrence.starts_at, Duty.id, Duty.name, Duty.stopped_at,
               DutyUnit.unit_id, DutyUnit.building_id, DutyUnit.grid_id, DutyUnit.community_id,
               DutyUnit.done_at, Building.number, Unit.number, Community.name)
        .join(Duty, col(Duty.id) == DutyOccurrence.duty_id)
        .join(DutyUnit, col(DutyUnit.occurrence_id) == DutyOccurrence.id)
        .join(Unit, col(Unit.id) == DutyUnit.unit_id)
        .join(Building, col(Building.id) == DutyUnit.building_id)
        .join(Community, col(Community.id) == DutyUnit.community_id)
        .where(col(DutyOccurrence.starts_at) >= since - timedelta(days=1),
               col(DutyOccurrence.starts_at) < until)
        .order_by(DutyOccurrence.starts_at, DutyOccurrence.id, Community.name, Building.number,
                  Unit.number)
    )).all()
    rows = [r for r in rows if since <= duty_due(r[1]) < until]
    places = [Place(r[5], r[6], r[7], r[8]) for r in rows]
    leaders = await leaders_by_unit(session, places, now)
    grids = await _grid_names(session, (r[7] for r in rows))
    chased = await _fired(session, DUTY_CHASE, (r[0] for r in rows))
    out = []
    for (occ_id, starts_at, duty_id, name, stopped_at, unit_id, _b, grid_id, _c, done, b_no,
         u_no, community), place in zip(rows, places, strict=True):
        due = duty_due(starts_at)
        who = next(iter(leaders.get(unit_id, [])), None)
        outcome, note = judge(due, done), ""
        if outcome == MISSED and stopped_at is not None and as_utc(stopped_at) < due:
            outcome, note = CANCELLED, "任务已停止"
        out.append(Obligation(
            DUTY, f"任务#{duty_id} {name} {local(starts_at):%m-%d} {b_no}栋{u_no}单元",
            community, grids.get(grid_id, ""), who.name if who else "",
            who.role if who else "", due, done, outcome,
            where=f"{community}/{b_no}栋{u_no}单元",
            reminders=sum(_before(f, done) for f in chased.get(occ_id, [])), note=note,
            place=place, person_id=who.person_id if who else None,
        ))
    return out


# --- 事件受理 ----------------------------------------------------------------------------------


async def incident_obligations(
    session: AsyncSession, period: Period, now: datetime, minutes: int,
) -> list[Obligation]:
    """Each incident, to be acknowledged within ``minutes`` of its report."""
    since, until = _window(period, now)
    window = timedelta(minutes=minutes)
    rows = (await session.exec(
        select(Incident, Building.number, Unit.number, Community.name, Building.grid_id,
               Building.id, Building.community_id)
        .join(Unit, col(Unit.id) == Incident.unit_id)
        .join(Building, col(Building.id) == Unit.building_id)
        .join(Community, col(Community.id) == Building.community_id)
        .where(col(Incident.reported_at) >= since - window,
               col(Incident.reported_at) < until - window)
        .order_by(Incident.id)
    )).all()
    names = await _names(session, (r[0].acked_by for r in rows))
    grids = await _grid_names(session, (r[4] for r in rows))
    out = []
    for inc, b_no, u_no, community, grid_id, building_id, community_id in rows:
        due = as_utc(inc.reported_at) + window
        name, pid = names.get(inc.acked_by or "", _NOBODY)
        out.append(Obligation(
            INCIDENT, f"事件#{inc.id} {inc.kind}", community, grids.get(grid_id, ""),
            name, RESPONSE_TEAM, due, inc.acked_at,
            judge(due, inc.acked_at), where=f"{community}/{b_no}栋{u_no}单元",
            escalated=inc.escalated_at is not None,
            place=Place(inc.unit_id, building_id, grid_id, community_id), person_id=pid,
        ))
    return out


# --- 协查 ------------------------------------------------------------------------------------


async def assist_obligations(
    session: AsyncSession, period: Period, now: datetime,
) -> list[Obligation]:
    since, until = _window(period, now)
    tasks = (await session.exec(
        select(AssistTask).where(col(AssistTask.due_at) >= since, col(AssistTask.due_at) < until)
        .order_by(AssistTask.id)
    )).all()
    names = await _names(session, (t.done_by for t in tasks))
    reminded = await _fired(session, ASSIST_REMIND, (t.id for t in tasks if t.id is not None))
    return [
        Obligation(
            ASSIST, f"协查函 {t.letter_no}", "", "", names.get(t.done_by or "", _NOBODY)[0],
            TRACING_TEAM, t.due_at, t.done_at, judge(t.due_at, t.done_at), where="全部",
            reminders=sum(_before(f, t.done_at) for f in reminded.get(t.id or 0, [])),
            escalated=t.escalated_at is not None,
            person_id=names.get(t.done_by or "", _NOBODY)[1],
        )
        for t in tasks
    ]


# --- 预警确认 ----------------------------------------------------------------------------------


async def alert_obligations(
    session: AsyncSession, period: Period, now: datetime,
) -> list[Obligation]:
    since, until = _window(period, now)
    rows = (await session.exec(
        select(Alert, AlertAck).join(AlertAck, col(AlertAck.alert_id) == Alert.id)
        .where(col(Alert.ack_deadline) >= since, col(Alert.ack_deadline) < until)
        .order_by(Alert.id, AlertAck.chat_group_id)
    )).all()
    bound = {gid: (kind, ref) for gid, kind, ref in (await session.exec(
        select(ChatGroup.id, ChatGroup.scope_kind, ChatGroup.scope_id).where(
            col(ChatGroup.id).in_(sorted({a.chat_group_id for _, a in rows})))
    )).all()} if rows else {}
    names = await _names(session, (a.acked_by for _, a in rows))
    reminded = await _fired(session, ALERT_ACK_REMIND, (al.id for al, _ in rows if al.id))
    out = []
    for alert, ack in rows:
        outcome, note = judge(alert.ack_deadline, ack.acked_at), ""
        if outcome == MISSED and ack.chat_group_id not in bound:
            outcome, note = CANCELLED, "群已解绑"
        scope = ack.label.removesuffix(" 工作群")
        community, _, grid = scope.partition("/")
        name, pid = names.get(ack.acked_by or "", _NOBODY)
        out.append(Obligation(
            ALERT, f"预警#{alert.id} {alert.region}", community, grid,
            name, WORK_GROUP_ROLE, alert.ack_deadline,
            ack.acked_at, outcome, where=ack.label,
            reminders=sum(_before(f, ack.acked_at) for f in reminded.get(alert.id or 0, [])),
            escalated=alert.escalated_at is not None and outcome != CANCELLED
            and _before(alert.escalated_at, ack.acked_at),
            note=note, group_scope=bound.get(ack.chat_group_id), person_id=pid,
        ))
    return out


# --- 政策学习 ----------------------------------------------------------------------------------


async def policy_obligations(
    session: AsyncSession, period: Period, now: datetime, hours: int = 24,
) -> list[Obligation]:
    """Each policy note whose study fell due in the period (``hours`` after it was
    published, when the unstudied are reminded), for each person holding 工作人员 or
    管理员 then (as ``/学习情况`` counts them; a grant that expired before the note was
    published does not count): studied by then, later, or not at all."""
    since, until = _window(period, now)
    lag = timedelta(hours=hours)
    policies = (await session.exec(
        select(Policy).where(col(Policy.published_at) >= since - lag,
                             col(Policy.published_at) < until - lag)
        .order_by(Policy.id)
    )).all()
    if not policies:
        return []
    grants = (await session.exec(
        select(RoleGrant.person_id, RoleGrant.expires_at, RosterPerson.name)
        .join(RosterPerson, col(RosterPerson.id) == RoleGrant.person_id)
        .where(col(RoleGrant.role).in_((ADMIN, STAFF)))
    )).all()
    studied = {(pid, person): at for pid, person, at in (await session.exec(
        select(PolicyStudy.policy_id, PolicyStudy.person_id, PolicyStudy.studied_at)
        .where(col(PolicyStudy.policy_id).in_([p.id for p in policies]))
    )).all()}
    reminded = await _fired(session, POLICY_REMIND, (p.id for p in policies if p.id))
    out = []
    for policy in policies:
        published, due = as_utc(policy.published_at), as_utc(policy.published_at) + lag
        staff = {person: name for person, expires, name in grants
                 if expires is None or as_utc(expires) > published}
        for person in sorted(staff):
            done = studied.get((policy.id, person))
            out.append(Obligation(
                POLICY, f"政策#{policy.id} {policy.title}", "", "", staff[person], STAFF_ROLE,
                due, done, judge(due, done), where="全部",
                reminders=sum(_before(f, done) for f in reminded.get(policy.id or 0, [])),
                person_id=person,
            ))
    return out


async def duty_record(
    session: AsyncSession, period: Period, now: datetime, *, incident_minutes: int = 15,
    scope: Scope | None = None, policy_hours: int = 24,
) -> list[Obligation]:
    """The whole record of the period (within ``scope``), by kind then due time."""
    found = (
        await checkin_obligations(session, period, now)
        + await duty_obligations(session, period, now)
        + await incident_obligations(session, period, now, incident_minutes)
        + await assist_obligations(session, period, now)
        + await alert_obligations(session, period, now)
        + await policy_obligations(session, period, now, policy_hours)
    )
    if scope is not None and scope.kind != "all":
        found = await within(session, found, scope)
    order = {k: i for i, k in enumerate(KINDS)}
    return sorted(found, key=lambda o: (order[o.kind], as_utc(o.due)))


# --- the scope filter ------------------------------------------------------------------------


def covers(scope: Scope, place: Place) -> bool:
    """Whether a resolved scope (``storage.repo.Scope``) holds this unit."""
    if scope.kind == "all":
        return True
    kind = "building" if scope.kind == "buildings" else scope.kind
    return any(place.covers(kind, ref) for ref in scope.ids)


def scope_code(scope: Scope) -> str:
    """An audit row's scope field: ``community:1``, ``buildings:3,4``; "" for 全部."""
    if scope.kind == "all":
        return ""
    return f"{scope.kind}:{','.join(str(i) for i in scope.ids)}"


async def within(
    session: AsyncSession, obligations: list[Obligation], scope: Scope,
) -> list[Obligation]:
    """The obligations about units of ``scope``; a 预警 acknowledgement when the work
    group it addressed covers only units of the scope. A street-wide 协查 (and a
    group unbound since) belongs to no narrower scope: only to 全部."""
    if scope.kind == "all":
        return list(obligations)
    group_scopes = {o.group_scope for o in obligations if o.group_scope is not None}
    inside: dict[tuple[str, int], bool] = {}
    if group_scopes:
        rows = (await session.exec(
            select(Unit.id, Unit.building_id, Building.grid_id, Building.community_id)
            .join(Building, col(Building.id) == Unit.building_id)
        )).all()
        places = [Place(*r) for r in rows]
        for kind, ref in group_scopes:
            theirs = [p for p in places if p.covers(kind, ref)]
            inside[(kind, ref)] = bool(theirs) and all(covers(scope, p) for p in theirs)
    return [
        o for o in obligations
        if (o.place is not None and covers(scope, o.place))
        or (o.place is None and o.group_scope is not None and inside[o.group_scope])
    ]


# --- the summary -----------------------------------------------------------------------------


@dataclass
class Tally:
    label: str
    total: int = 0  # counted: on time + late + missed
    on_time: int = 0
    late: int = 0
    missed: int = 0
    excused: int = 0  # exempt or cancelled, not counted

    def add(self, o: Obligation) -> None:
        if not o.counted:
            self.excused += 1
            return
        self.total += 1
        setattr(self, o.outcome, getattr(self, o.outcome) + 1)

    @property
    def rate(self) -> int:
        return self.on_time * 100 // self.total if self.total else 100


@dataclass
class Person:
    name: str
    role: str
    late: int = 0
    missed: int = 0
    person_id: int | None = None  # the roster person (for the console's drill-down)


@dataclass
class Summary:
    period: Period
    all: Tally
    communities: list[Tally] = field(default_factory=list)  # 排查打卡 and 定期任务
    grids: list[Tally] = field(default_factory=list)
    people: list[Person] = field(default_factory=list)  # most late or missed first
    kinds: dict[str, Tally] = field(default_factory=dict)
    incident_minutes: int = 15
    scope: str = ""  # the scope's label when narrower than 全部
    signals: list[Signal] = field(default_factory=list)  # 需核实: named, counted, unjudged

    # Each kind's tally by name, for the templates (summary.checkins, …).
    checkins = property(lambda self: self.kinds[CHECKIN])
    duties = property(lambda self: self.kinds[DUTY])
    incidents = property(lambda self: self.kinds[INCIDENT])
    assists = property(lambda self: self.kinds[ASSIST])
    alerts = property(lambda self: self.kinds[ALERT])
    policies = property(lambda self: self.kinds[POLICY])


def summarize(
    period: Period, obligations: list[Obligation], top: int = 5, incident_minutes: int = 15,
    scope: str = "", signals: list[Signal] | None = None,
) -> Summary:
    total = Tally("合计")
    kinds = {k: Tally(k) for k in KINDS}
    by_community: dict[str, Tally] = {}
    by_grid: dict[str, Tally] = {}
    people: dict[tuple[object, str], Person] = {}
    for o in obligations:
        total.add(o)
        kinds.setdefault(o.kind, Tally(o.kind)).add(o)
        if o.kind in UNIT_KINDS:
            by_community.setdefault(o.community, Tally(o.community)).add(o)
            label = f"{o.community}/{o.grid}"
            by_grid.setdefault(label, Tally(label)).add(o)
        if o.outcome in (LATE, MISSED) and o.person:
            key = (o.person_id if o.person_id is not None else o.person, o.role)
            p = people.setdefault(key, Person(o.person, o.role, person_id=o.person_id))
            if o.outcome == LATE:
                p.late += 1
            else:
                p.missed += 1
    ranked = sorted(people.values(), key=lambda p: (-(p.late + p.missed), -p.missed, p.name))
    return Summary(period, total, sorted(by_community.values(), key=lambda t: t.label),
                   sorted(by_grid.values(), key=lambda t: t.label), ranked[:top], kinds,
                   incident_minutes, scope, list(signals or []))
