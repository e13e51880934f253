"""The outbox in virtual time: pacing, caps, one shared queue, outcomes, breaker, recovery."""

from __future__ import annotations

import asyncio
import itertools
import random

from sqlmodel import select

from bot.outbox import NotSent, Outbox, Pacing, SendFailed
from bot.runtime import Runtime
from storage.models_outbox import OutboxItem
from tests.helpers import CancelTurnsIntoError


class VirtualTime:
    def __init__(self) -> None:
        self.t = 0.0

    def clock(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.t += max(seconds, 0.0)
        await asyncio.sleep(0)


class FakeTransport:
    def __init__(self, vt: VirtualTime, fail: dict[str, BaseException] | None = None) -> None:
        self.vt = vt
        self.fail = fail or {}
        self.sent: list[tuple[float, str]] = []
        self.calls: list[str] = []

    async def send(self, item: OutboxItem) -> None:
        self.calls.append(item.target)
        exc = self.fail.get(item.target)
        if exc is not None:
            raise exc
        self.sent.append((self.vt.t, item.target))


PACE = Pacing(interval=1.5, jitter=1.0, per_minute=20, breaker_failures=3, breaker_cooldown=300)


def make_outbox(rt: Runtime, transport, **kw) -> Outbox:
    vt = transport.vt
    kw.setdefault("wall", rt.utcnow)  # the runtime clock, never the host's
    return Outbox(rt.db, transport, {"qq": PACE}, clock=vt.clock, sleep=vt.sleep,
                  rng=random.Random(7), poll=0.5, **kw)


async def enqueue_groups(rt: Runtime, outbox: Outbox, groups, source: str, bot_id="8888"):
    async with rt.db.write() as s:
        for g in groups:
            await outbox.enqueue(s, platform="qq", bot_id=bot_id, target_kind="group",
                                 target=str(g), text=f"通知 {source}", source=source)


async def run_until_idle(outbox: Outbox, limit: float = 30.0) -> None:
    await outbox.start()
    try:
        async with asyncio.timeout(limit):
            while not await outbox.idle():
                await asyncio.sleep(0.01)
    finally:
        await outbox.stop()


def assert_paced(times: list[float], pace: Pacing) -> None:
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= pace.interval - 1e-9
    for i, t in enumerate(times):
        in_window = [u for u in times[i:] if u < t + 60.0]
        assert len(in_window) <= pace.per_minute


async def test_two_hundred_groups_are_paced(runtime: Runtime) -> None:
    vt = VirtualTime()
    transport = FakeTransport(vt)
    outbox = make_outbox(runtime, transport)
    await enqueue_groups(runtime, outbox, range(1, 201), "broadcast:1")
    await run_until_idle(outbox)
    times = [t for t, _ in transport.sent]
    assert sorted(g for _, g in transport.sent) == sorted(str(g) for g in range(1, 201))
    assert_paced(times, PACE)
    # The per-minute cap, not the interval, sets the pace here: ~10 minutes for 200.
    assert 9 * 60 <= times[-1] - times[0] <= 10.5 * 60
    assert await outbox.counts("broadcast:1") == {"sent": 200}


async def test_five_staff_broadcasting_at_once_share_one_queue(runtime: Runtime) -> None:
    vt = VirtualTime()
    transport = FakeTransport(vt)
    outbox = make_outbox(runtime, transport)
    await asyncio.gather(*(
        enqueue_groups(runtime, outbox, range(k * 100, k * 100 + 40), f"broadcast:{k}")
        for k in range(1, 6)
    ))
    await run_until_idle(outbox)
    assert len(transport.sent) == 200
    assert len(outbox.workers) == 0 and list(outbox.queues) == ["qq:8888"]
    assert_paced([t for t, _ in transport.sent], PACE)


async def test_one_refusal_fails_that_group_only(runtime: Runtime) -> None:
    vt = VirtualTime()
    transport = FakeTransport(vt, {"7": SendFailed(100, "group muted")})
    outbox = make_outbox(runtime, transport)
    await enqueue_groups(runtime, outbox, range(1, 11), "broadcast:2")
    await run_until_idle(outbox)
    assert await outbox.counts("broadcast:2") == {"sent": 9, "failed": 1}
    async with runtime.db.read() as s:
        failed = (await s.exec(select(OutboxItem).where(OutboxItem.state == "failed"))).one()
    assert failed.target == "7" and "group muted" in failed.error


async def test_unknown_outcome_is_never_retried(runtime: Runtime) -> None:
    vt = VirtualTime()
    transport = FakeTransport(vt, {"3": TimeoutError("api timeout")})
    outbox = make_outbox(runtime, transport)
    await enqueue_groups(runtime, outbox, range(1, 6), "broadcast:3")
    await run_until_idle(outbox)
    assert transport.calls.count("3") == 1
    assert await outbox.counts("broadcast:3") == {"sent": 4, "unknown": 1}


async def test_not_sent_waits_and_goes_later(runtime: Runtime) -> None:
    vt = VirtualTime()
    transport = FakeTransport(vt, {"2": NotSent("bot offline")})
    outbox = make_outbox(runtime, transport)
    await enqueue_groups(runtime, outbox, range(1, 4), "broadcast:4")
    await outbox.start()
    try:
        async with asyncio.timeout(10):
            while len(transport.calls) < 4:  # 1, 2 (not sent), then 2 again or 3
                await asyncio.sleep(0.01)
        assert (await outbox.counts("broadcast:4")).get("pending", 0) >= 1
        del transport.fail["2"]  # the bot is back
        async with asyncio.timeout(10):
            while not await outbox.idle():
                await asyncio.sleep(0.01)
    finally:
        await outbox.stop()
    assert await outbox.counts("broadcast:4") == {"sent": 3}
    assert sorted(g for _, g in transport.sent) == ["1", "2", "3"]


async def test_risk_control_opens_the_breaker_and_alerts(runtime: Runtime) -> None:
    vt = VirtualTime()
    fail = {str(g): SendFailed(1200, "risk control") for g in range(1, 4)}
    transport = FakeTransport(vt, fail)
    alerts: list[tuple[str, str]] = []

    async def alert(key: str, detail: str) -> None:
        alerts.append((key, detail))

    outbox = make_outbox(runtime, transport, alert=alert)
    await enqueue_groups(runtime, outbox, range(1, 8), "broadcast:5")
    await run_until_idle(outbox)
    assert len(alerts) == 1 and alerts[0][0] == "qq:8888" and "1200" in alerts[0][1]
    times = dict((g, t) for t, g in transport.sent)
    # Group 4 went out only after the cool-down.
    assert times["4"] >= PACE.breaker_cooldown
    assert await outbox.counts("broadcast:5") == {"failed": 3, "sent": 4}


async def test_restart_marks_in_flight_unknown(runtime: Runtime) -> None:
    vt = VirtualTime()
    transport = FakeTransport(vt)
    outbox = make_outbox(runtime, transport)
    await enqueue_groups(runtime, outbox, range(1, 4), "broadcast:6")
    async with runtime.db.write() as s:
        first = (await s.exec(select(OutboxItem).order_by(OutboxItem.id))).first()
        first.state = "sending"  # as a crash between claim and answer leaves it
        s.add(first)
    await run_until_idle(outbox)
    assert await outbox.counts("broadcast:6") == {"unknown": 1, "sent": 2}
    assert first.target not in [g for _, g in transport.sent]


async def test_quiet_hours_hold_until_not_before(runtime: Runtime) -> None:
    from datetime import timedelta

    vt = VirtualTime()
    transport = FakeTransport(vt)
    outbox = make_outbox(runtime, transport)
    later = runtime.now() + timedelta(hours=8)
    async with runtime.db.write() as s:
        await outbox.enqueue(s, platform="qq", bot_id="8888", target_kind="group", target="1",
                             text="早上好", source="broadcast:7", not_before=later)
    assert await outbox.idle()  # nothing due now
    await outbox.start()
    await asyncio.sleep(0.05)
    await outbox.stop()
    assert transport.sent == []
    assert await outbox.counts("broadcast:7") == {"pending": 1}


async def test_a_restart_keeps_a_risk_control_pause(runtime: Runtime) -> None:
    from datetime import timedelta

    vt = VirtualTime()
    fail = {str(g): SendFailed(1200, "risk control") for g in range(1, 4)}
    outbox = make_outbox(runtime, FakeTransport(vt, fail))
    await enqueue_groups(runtime, outbox, range(1, 4), "broadcast:8")
    await run_until_idle(outbox)
    assert await outbox.counts("broadcast:8") == {"failed": 3}
    # The bot restarts a minute later with new work for the same account.
    later = runtime.now() + timedelta(minutes=1)
    vt2 = VirtualTime()
    transport = FakeTransport(vt2)
    restarted = make_outbox(runtime, transport)
    restarted.wall = lambda: later
    await enqueue_groups(runtime, restarted, [9], "broadcast:9")
    await run_until_idle(restarted)
    # Sent only after the rest of the 300 s cool-down, not at once.
    assert [g for _, g in transport.sent] == ["9"]
    assert transport.sent[0][0] >= PACE.breaker_cooldown - 60 - 1


async def test_nothing_is_claimed_while_no_bot_can_send(runtime: Runtime) -> None:
    """A row is marked sending only when its bot is there: one claimed with nobody
    to send it would become unknown (never resent) if the process died meanwhile."""
    vt = VirtualTime()
    transport = FakeTransport(vt)
    online = {"up": False}
    transport.ready = lambda item: online["up"]  # type: ignore[attr-defined]
    outbox = make_outbox(runtime, transport)
    await enqueue_groups(runtime, outbox, range(1, 3), "broadcast:9")
    await outbox.start()
    try:
        for _ in range(20):
            await asyncio.sleep(0)
        async with runtime.db.read() as s:
            rows = (await s.exec(select(OutboxItem))).all()
        assert {(r.state, r.attempts) for r in rows} == {("pending", 0)}
        assert transport.calls == []
    finally:
        await outbox.stop()
    online["up"] = True
    await run_until_idle(outbox)
    assert await outbox.counts("broadcast:9") == {"sent": 2}


async def test_stop_ends_the_lease_loop_even_when_its_cancel_meets_an_error(
    runtime: Runtime,
) -> None:
    """The lease loop is stopped while inside a write, and the write's clean-up answers
    the cancel with an error: stop() still ends (it once waited for ever)."""
    db = CancelTurnsIntoError(runtime.settings.db_url)
    box = Outbox(db, FakeTransport(VirtualTime()), {"qq": PACE}, wall=runtime.utcnow,
                 poll=0.05, lease_renew=0.05)
    stopping: asyncio.Task | None = None
    try:
        await box.start()
        db.hold = True  # the next renewal waits inside its transaction
        await asyncio.wait_for(db.inside.wait(), 5)
        db.hold = False
        stopping = asyncio.create_task(box.stop())
        done, _ = await asyncio.wait({stopping}, timeout=5)  # (asyncio.wait cancels nothing)
        assert stopping in done and stopping.exception() is None
        assert not box.running and box._lease_task is None
    finally:
        for task in (box._lease_task, stopping):
            if task is not None:
                task.cancel()
        await db.dispose()
