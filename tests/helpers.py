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
from datetime import datetime, timedelta

from sqlmodel import col, select

from bot.clock import ManualClock
from bot.outbox import Outbox
from bot.runtime import Runtime
from bot.scheduler import Scheduler, SchedulerHooks
from ground.timeutil import SHANGHAI, local
from storage.models import AuditLog, ScheduledItem
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


def link_in(text: str, kind: str) -> str:
    """The path of the console link (``login`` or ``download``) in a bot message."""
    import re

    found = re.search(rf"https?://[^/\s]+(/console/{kind}/[A-Za-z0-9_\-]+)", text)
    assert found, text
    return found.group(1)
