"""Helpers shared by the end-to-end tests: a test clock, group binding, a started
(and restarted) scheduler, scheduled items, the audit trail, outbox settling,
collecting sends.

Plain functions, no plugin imports at module level: NoneBot must be initialised
before a plugin module is imported.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

from sqlmodel import col, select

from bot.clock import ManualClock
from bot.intake import intake_for
from bot.outbox import Outbox
from bot.runtime import Runtime
from bot.scheduler import Scheduler, SchedulerHooks
from ground.timeutil import SHANGHAI, local
from storage.db import Database
from storage.models import (
    AuditLog,
    Building,
    CheckinReport,
    CheckinRound,
    CheckinRoundUnit,
    RecurringRound,
    ScheduledItem,
    Unit,
)
from storage.models_outbox import OutboxItem
from tests.onebot import OneBotPeer, Sent

# A frozen, settable clock for ``Runtime.clock`` / ``Outbox.wall``; the scheduler
# follows its jumps (``advance``, ``at = …``).
Clock = ManualClock

# The instant every test's runtime clock starts at unless the test sets its own:
# a Monday morning, outside quiet hours, whatever the host's date and hour.
TEST_EPOCH = datetime(2026, 11, 30, 10, 0, tzinfo=SHANGHAI)


def freeze_clock(rt: Runtime, at: datetime, outbox: Outbox | None = None) -> ManualClock:
    """A frozen clock at ``at``, installed as the runtime's clock (and as the wall
    clock the outbox paces and holds quiet hours by, when given)."""
    clock = ManualClock(at)
    rt.clock = clock
    if outbox is not None:
        outbox.wall = clock
    return clock


async def bound_at(rt: Runtime, at: datetime, bind: Awaitable[object],
                   outbox: Outbox | None = None) -> ManualClock:
    """The test's groups bound (``bind`` awaited, on the runtime's own clock), then the
    clock frozen at ``at`` (see ``freeze_clock``)."""
    await bind
    return freeze_clock(rt, at, outbox)


async def running_at(
    rt: Runtime, at: datetime, bind: Awaitable[object],
    start: Callable[[Runtime], Awaitable[Scheduler]],
) -> tuple[ManualClock, Scheduler]:
    """``bound_at``, then a scheduler started (``start(rt)``): the clock and the scheduler.
    With the ``scheduler_stopped`` fixture the last one started is stopped at the end."""
    clock = await bound_at(rt, at, bind)
    return clock, await start(rt)


async def advance(sched: Scheduler, clock: ManualClock, **kw: float) -> None:
    """Move the clock and wait until the scheduler has fired what became due."""
    clock.advance(timedelta(**kw))
    await sched.settle()


async def register_groups(
    peer: OneBotPeer, account: int, bindings: Iterable[tuple[int, str]]
) -> None:
    """``/绑定群 <args>`` in each group, as ``account``; each must be accepted."""
    for gid, args in bindings:
        sent = await peer.ask(account, f"/绑定群 {args}", group_id=gid)
        assert "已将本群登记为" in sent.text


async def bind_and_open(peer: OneBotPeer, staff: int, work: int) -> None:
    """As ``staff``: ``work`` bound as 幸福社区's 工作群, then round #1 opened there over
    every unit, due in two days (the replies are not checked)."""
    await peer.ask(staff, "/绑定群 幸福社区 工作群", group_id=work)
    await peer.ask(staff, "/排查 发起 返区人员排查 截止 2天", group_id=work)


async def start_scheduler(rt: Runtime, hooks: SchedulerHooks) -> Scheduler:
    """A started scheduler with these hooks, installed as ``rt.scheduler``."""
    sched = Scheduler.from_hooks(rt, hooks)
    rt.scheduler = sched
    await sched.start()
    return sched


async def restart(
    sched: Scheduler, start: Callable[[Runtime], Awaitable[Scheduler]],
    clock: ManualClock | None = None, at: datetime | None = None,
) -> Scheduler:
    """A restart: stop the scheduler, move ``clock`` to ``at`` while it is down (if
    given) and start a new one (``start(rt)``) on the same database."""
    await sched.stop()
    if clock is not None and at is not None:
        clock.at = at
    return await start(sched.runtime)


async def scheduled_items(
    rt: Runtime,
    kind: str | None = None,
    *,
    prefix: str | None = None,
    ref_id: int | None = None,
    by_due: bool = False,
) -> list[ScheduledItem]:
    """Scheduled items (of a kind, or kinds starting with ``prefix``), by id or due time."""
    stmt = select(ScheduledItem)
    if kind is not None:
        stmt = stmt.where(ScheduledItem.kind == kind)
    if prefix is not None:
        stmt = stmt.where(col(ScheduledItem.kind).startswith(prefix))
    if ref_id is not None:
        stmt = stmt.where(ScheduledItem.ref_id == ref_id)
    stmt = stmt.order_by(ScheduledItem.due_at if by_due else ScheduledItem.id)
    async with rt.db.read() as s:
        return list((await s.exec(stmt)).all())


async def audit_trail(rt: Runtime, prefix: str, field=AuditLog.detail) -> list:
    """(action, ``field``) of each audit row whose action starts with ``prefix``, in order."""
    stmt = select(AuditLog.action, field).where(col(AuditLog.action).startswith(prefix))
    async with rt.db.read() as s:
        return list((await s.exec(stmt.order_by(AuditLog.id))).all())


async def outbox_settled(rt: Runtime) -> None:
    """Wait until the outbox has recorded every send (before a dump_db snapshot)."""
    for _ in range(200):
        async with rt.db.read() as s:
            states = set((await s.exec(select(OutboxItem.state))).all())
        if states <= {"sent"}:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"outbox not settled: {states}")


def messages_admitted(rt: Runtime) -> int:
    """How many message events the runtime's intake has let in so far."""
    return intake_for(rt).admitted


async def messages_handled(rt: Runtime, admitted_before: int, n: int = 1,
                           timeout: float = 15.0) -> None:
    """Wait until ``n`` more message events were let in and every one let in has been
    handled (its turn is held until NoneBot is done with it): a silent handler has
    finished, however busy the machine, without guessing a sleep."""
    intake = intake_for(rt)
    deadline = asyncio.get_running_loop().time() + timeout
    while not (intake.admitted >= admitted_before + n and intake.inflight == 0
               and intake.waiting == 0):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{n} message(s) not handled within {timeout:g} s")
        await asyncio.sleep(0.01)


async def collect(peer: OneBotPeer, n: int) -> list[Sent]:
    """The next ``n`` sends, in the order the peer saw them."""
    return [await peer.expect_send() for _ in range(n)]


async def say(peer: OneBotPeer, user: int, text: str, n: int, group: int | None = None):
    """Send a command and collect n messages (the reply and pushes, in any order)."""
    if group is None:
        await peer.private_message(user, text)
    else:
        await peer.group_message(user, group, text)
    return await collect(peer, n)


async def fire_due(sched: Scheduler, clock: ManualClock, item: ScheduledItem) -> bool:
    """Move the clock to the item's due time (Asia/Shanghai): its timer fires it.

    True if that made it run to the end (an item never armed is fired directly).
    """
    async def row() -> ScheduledItem:
        async with sched.runtime.db.read() as s:
            found = await s.get(ScheduledItem, item.id)
        assert found is not None
        return found

    before = (await row()).attempts
    clock.at = local(item.due_at)
    await sched.settle()
    after = await row()
    if after.state == "pending" and after.attempts == before:
        return await sched.fire(item.id)  # type: ignore[arg-type]
    return after.state == "done" and after.attempts > before


async def run_due(sched: Scheduler, item_id: int) -> bool:
    """An item the clock has reached: its timer fires it (wait for that); one not
    armed is fired directly. True if it ran to the end."""
    await sched.settle()
    async with sched.runtime.db.read() as s:
        row = await s.get(ScheduledItem, item_id)
    assert row is not None
    if row.state == "pending":
        return await sched.fire(item_id)
    return row.state == "done"


_TYPED_COMMAND = re.compile(r"^\s*[/／](\S+?)(?:\s|$)")


def as_answered(renderer, expected: str, text: str) -> str:
    """What a command answers when ``expected`` is its full usage: the usage itself
    when ``text`` was the bare command, else the one-line ``common/bad_args`` (the
    full usage is for the bare command and /帮助 only). Other answers pass through."""
    from bot.kit import BAD_ARGS_TEMPLATE, brief

    m = _TYPED_COMMAND.match(text)
    # Every usage template starts with its "/命令 …" form; no other answer does.
    if m is None or not text[m.end():].strip() or not expected.startswith("/"):
        return expected
    return renderer.render(BAD_ARGS_TEMPLATE, **brief(expected, m.group(1), text[m.end():])
                           .context)


async def ask_expecting(
    peer: OneBotPeer, renderer, user: int, text: str, expect: str, group: int | None = None
) -> tuple[Sent, str]:
    """``text`` asked by ``user`` (in ``group``, else privately): the answer, and what
    ``expect`` stands for as the answer to it (``as_answered``)."""
    sent = await peer.ask(user, text, group_id=group)
    return sent, as_answered(renderer, expect, text)


def console_client():
    """An HTTP client on the bot's own FastAPI app (the web console), in-process."""
    import httpx
    import nonebot

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=nonebot.get_app()),
                             base_url="http://127.0.0.1:8080")


async def console_login(rt: Runtime, client, account: str) -> None:
    """A console session for ``account`` through a one-time link, as /后台 gives."""
    from storage import console as links

    async with rt.db.write() as s:
        token = await links.issue_link(s, account, links.LINK_LOGIN, rt.now())
    response = await client.get(f"/console/login/{token}")
    assert response.status_code == 303, response.text


async def open_round(rt: Runtime, opened: datetime, recurring_id: int | None = None) -> int:
    """A check-in round over every unit, opened at ``opened`` and due 8 hours later,
    written straight to the database; its id."""
    async with rt.db.write() as s:
        rnd = CheckinRound(title="排查", scope_kind="all", scope_label="全部", opened_by="qq:1",
                           opened_at=opened, deadline=opened + timedelta(hours=8),
                           recurring_id=recurring_id)
        s.add(rnd)
        await s.flush()
        for unit in (await s.exec(select(Unit))).all():
            b = await s.get(Building, unit.building_id)
            s.add(CheckinRoundUnit(round_id=rnd.id, unit_id=unit.id, building_id=unit.building_id,
                                   grid_id=b.grid_id, community_id=b.community_id,
                                   households=unit.households))
        return rnd.id


async def file_report(rt: Runtime, round_id: int, unit_id: int, reporter: str, at: datetime,
                      households: int = 10) -> None:
    """A check-in report for one unit of a round, written straight to the database."""
    async with rt.db.write() as s:
        s.add(CheckinReport(round_id=round_id, unit_id=unit_id, reporter=reporter,
                            households=households, reported_at=at))


async def daily_rounds(rt: Runtime, t0: datetime, days: int = 3) -> list[int]:
    """``days`` rounds of one daily definition, the first opened at ``t0``: unit 1
    reported with 18 households every day by qq:30011, unit 2 with a figure that
    changes every day by qq:30012, both two hours after the opening; their ids."""
    async with rt.db.write() as s:
        defn = RecurringRound(title="每日", scope_kind="all", scope_label="全部", open_minute=600,
                              close_minute=1080, created_by="qq:1")
        s.add(defn)
        await s.flush()
        did = defn.id
    rounds = [await open_round(rt, t0 + timedelta(days=d), did) for d in range(days)]
    for d, r in enumerate(rounds):
        await file_report(rt, r, 1, "qq:30011", t0 + timedelta(days=d, hours=2), households=18)
        await file_report(rt, r, 2, "qq:30012", t0 + timedelta(days=d, hours=2),
                          households=10 + d)
    return rounds


def link_in(text: str, kind: str) -> str:
    """The path of the console link (``login`` or ``download``) in a bot message."""
    import re

    found = re.search(rf"https?://[^/\s]+(/console/{kind}/[A-Za-z0-9_\-]+)", text)
    assert found, text
    return found.group(1)


class CancelTurnsIntoError(Database):
    """A database whose write transaction, once a lease check is inside it, waits there,
    and whose clean-up answers a cancel with an error of its own (as a dropped
    connection's once did): what a stopping scheduler meets at the worst moment."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.inside = asyncio.Event()
        self.hold = False

    @asynccontextmanager
    async def write(self):
        async with super().write() as s:
            yield s
            if self.hold:
                self.inside.set()
                try:
                    await asyncio.sleep(30)
                except asyncio.CancelledError:
                    raise ValueError("no active connection") from None
