"""The paced, crash-safe outbox behind every pushed message.

- A message becomes `OutboxItem` rows inside the caller's transaction, so a
  broadcast and its deliveries commit together or not at all.
- One worker per queue (a sending account) takes the next pending row, waits
  for its pace (a minimum interval plus random jitter, and a per-minute cap),
  *claims* it (pending -> sending, committed) and only then calls the platform.
- The outcome is recorded: sent, failed (the platform said no), or unknown
  (timeout, dropped connection, crash between claim and answer). An unknown
  send is never retried by the bot: a duplicate notice in 300 groups is worse
  than asking staff to look. Rows left in `sending` by a crash become unknown
  at start.
- K consecutive refusals (e.g. OneBot `retcode=1200`, risk control) open a
  circuit breaker: the queue pauses for a cool-down and operators are alerted.

Clock, sleep and randomness are injected so pacing is tested in virtual time.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_
from sqlmodel import col, func, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.tasks import being_cancelled
from bot.transport import NotSent, SendFailed, Transport, chunk_mentions
from ground.timeutil import as_utc, utcnow
from storage import leases
from storage.db import Database
from storage.models import AuditLog
from storage.models_outbox import (
    OUT_CANCELLED,
    OUT_FAILED,
    OUT_PENDING,
    OUT_SENDING,
    OUT_SENT,
    OUT_UNKNOWN,
    OutboxItem,
)
from storage.repo import audit

log = logging.getLogger("gridbot.outbox")

PROCESS_LEASE = "outbox:"
QUEUE_LEASE = "queue:"



@dataclass(frozen=True)
class Pacing:
    interval: float  # seconds between two sends of one queue, at least
    jitter: float  # plus up to this many seconds, at random
    per_minute: int  # and never more than this many in any 60 s
    breaker_failures: int = 5  # consecutive refusals that pause the queue
    breaker_cooldown: float = 600.0  # seconds the queue stays paused
    window: float = 60.0  # the span `per_minute` counts over (shorter only in tests)


# DESIGN.md §5: NapCat mutes bursts; WeChat wants >= 1 s apart (safe mode 40/min,
# one per 3 s per chat); WeCom webhooks take 20/min.
DEFAULT_PACING: dict[str, Pacing] = {
    "qq": Pacing(interval=1.5, jitter=1.0, per_minute=20),
    "wx": Pacing(interval=2.0, jitter=1.0, per_minute=20),
    "webhook": Pacing(interval=3.0, jitter=0.2, per_minute=20),
    "console": Pacing(interval=0.0, jitter=0.0, per_minute=600),
}


class Pacer:
    """Decides how long a queue must wait before its next send."""

    def __init__(self, pacing: Pacing, rng: random.Random) -> None:
        self.pacing = pacing
        self.rng = rng
        self.recent: deque[float] = deque()
        self.next_gap = pacing.interval
        self.last: float | None = None

    def delay(self, now: float) -> float:
        wait = 0.0
        if self.last is not None:
            wait = max(wait, self.last + self.next_gap - now)
        window = self.pacing.window
        while self.recent and self.recent[0] <= now - window:
            self.recent.popleft()
        if len(self.recent) >= self.pacing.per_minute:
            wait = max(wait, self.recent[0] + window - now)
        return wait

    def record(self, now: float) -> None:
        self.last = now
        self.recent.append(now)
        self.next_gap = self.pacing.interval + self.rng.uniform(0, self.pacing.jitter)

    def sent(self, now: float) -> None:
        """The send recorded last is done. The rate window counts it from now: the
        receiver counts it on arrival, which can be later than its slot (a claim
        waiting for the write lock, a first connection), and a send counted early
        lets the one a window later arrive inside the receiver's window."""
        if self.recent:
            self.recent[-1] = max(self.recent[-1], now)


@dataclass
class QueueState:
    pacer: Pacer
    failures: int = 0
    paused_until: float | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)


FinalHook = Callable[[OutboxItem], Awaitable[None]]
AlertHook = Callable[[str, str], Awaitable[None]]


def queue_key(platform: str, bot_id: str, target_kind: str, target: str) -> str:
    if target_kind == "webhook":
        # One queue per robot; named by a digest so logs never carry the URL's key.
        return f"webhook:{hashlib.sha256(target.encode()).hexdigest()[:12]}"
    return f"{platform}:{bot_id or '*'}"


class Outbox:
    def __init__(
        self,
        db: Database,
        transport: Transport,
        pacing: Mapping[str, Pacing] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        wall: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
        hooks: Mapping[str, FinalHook] | None = None,
        alert: AlertHook | None = None,
        poll: float = 1.0,
        holder: str | None = None,
        lease_ttl: float = 60.0,
        lease_renew: float = 20.0,
    ) -> None:
        self.db = db
        self.transport = transport
        self.pacing = {**DEFAULT_PACING, **(pacing or {})}
        self.clock = clock
        self.sleep = sleep
        self.wall = wall
        self.rng = rng or random.Random()
        self.hooks = dict(hooks or {})
        self.alert = alert
        self.poll = poll
        self.queues: dict[str, QueueState] = {}
        self.workers: dict[str, asyncio.Task] = {}
        # Recording an outcome (and its hooks) runs beside the queue, so the
        # bookkeeping of one send never delays the next one's slot.
        self.settling: set[asyncio.Task] = set()
        self.running = False
        # Several processes may share one database: this one's claims carry its
        # holder, live while its `outbox:` lease is renewed; a queue (one sending
        # account) is worked by the holder of its `queue:` lease only.
        self.holder = holder or leases.new_holder()
        self.lease_ttl = timedelta(seconds=lease_ttl)
        self.lease_renew = lease_renew
        self._held: dict[str, float] = {}  # queue lease -> when to renew (monotonic)
        self._lease_task: asyncio.Task | None = None

    def _now(self) -> datetime:
        """Now on the wall clock handed in (the runtime clock in the bot), as aware UTC."""
        return as_utc(self.wall())

    # --- writing --------------------------------------------------------------

    async def enqueue(
        self,
        session: AsyncSession,
        *,
        platform: str,
        target_kind: str,
        target: str,
        text: str,
        bot_id: str = "",
        mentions: Iterable[tuple[str, str]] = (),
        source: str = "",
        priority: int = 0,
        not_before: datetime | None = None,
        chat_group_id: int | None = None,
    ) -> list[OutboxItem]:
        """Add rows in the caller's transaction; call `notify()` after it commits."""
        mentions = list(mentions)
        batches = [list(b) for b in chunk_mentions(mentions)] or [[]]
        items = []
        for batch in batches:
            item = OutboxItem(
                queue=queue_key(platform, bot_id, target_kind, target),
                platform=platform, bot_id=bot_id, target_kind=target_kind, target=target,
                chat_group_id=chat_group_id, text=text, created_at=self._now(),
                mentions=json.dumps(batch, ensure_ascii=False), source=source,
                priority=priority, not_before=not_before,
            )
            session.add(item)
            items.append(item)
        await session.flush()
        return items

    def notify(self) -> None:
        """Wake the workers (and start one for a queue seen for the first time)."""
        if not self.running:
            return
        asyncio.get_running_loop().create_task(self._spawn_pending_queues())
        for state in self.queues.values():
            state.wake.set()

    async def cancel(self, session: AsyncSession, source: str) -> int:
        result = await session.exec(
            update(OutboxItem)
            .where(col(OutboxItem.source) == source, col(OutboxItem.state) == OUT_PENDING)
            .values(state=OUT_CANCELLED, finished_at=self._now())
        )
        return result.rowcount or 0

    # --- lifecycle ------------------------------------------------------------

    @property
    def lease_name(self) -> str:
        return f"{PROCESS_LEASE}{self.holder}"

    async def recover(self) -> int:
        """A row still `sending` whose claiming process is gone (its lease over, or
        no such process on this host any more) was interrupted mid-call: its fate is
        unknown. Rows in flight in a live process are left to it."""
        async with self.db.write() as s:
            now = await leases.db_now(s)
            await leases.take(s, self.lease_name, self.holder, self.lease_ttl, now)
            alive = await leases.live_holders(s, PROCESS_LEASE, now) | {self.holder}
            result = await s.exec(
                update(OutboxItem)
                .where(col(OutboxItem.state) == OUT_SENDING,
                       or_(col(OutboxItem.claimed_by).is_(None),
                           col(OutboxItem.claimed_by).not_in(alive)))
                .values(state=OUT_UNKNOWN, error="interrupted (restart)", finished_at=self._now())
            )
            n = result.rowcount or 0
            if n:
                await audit(
                    s, "system", "outbox_recover", f"{n} in-flight sends marked unknown",
                    at=self._now(),
                )
        if n:
            log.warning("%d in-flight sends from before the restart marked unknown", n)
        return n

    async def start(self) -> None:
        await self.recover()
        await self._restore_pauses()
        self.running = True
        self._lease_task = asyncio.get_running_loop().create_task(self._keep_leases())
        await self._spawn_pending_queues()

    async def _keep_leases(self) -> None:
        """Renew this process's lease and hand what a dead process left in flight to
        `unknown` (its queues are taken over as their leases run out); between
        renewals, look for queues another process gave work to."""
        renew_at = time.monotonic() + self.lease_renew
        while True:
            await asyncio.sleep(min(self.poll, self.lease_renew))
            try:
                if time.monotonic() >= renew_at:
                    renew_at = time.monotonic() + self.lease_renew
                    await self.recover()
                await self._spawn_pending_queues()
            except Exception:  # the database is busy or away: the next round retries
                if being_cancelled():
                    raise
                log.exception("outbox: could not renew the lease")

    async def _hold_queue(self, key: str) -> bool:
        """Whether this process may send for queue ``key`` (one account's): its lease,
        taken or renewed when due."""
        name = f"{QUEUE_LEASE}{key}"
        if time.monotonic() < self._held.get(name, 0.0):
            return True
        async with self.db.write() as s:
            held = await leases.take(s, name, self.holder, self.lease_ttl)
        if held:
            self._held[name] = time.monotonic() + self.lease_renew
        else:
            self._held.pop(name, None)
        return held

    async def _restore_pauses(self) -> None:
        """A restart must not lift a risk-control pause: an operator restarting the
        bot would otherwise resume the burst that got the account flagged."""
        longest = max(p.breaker_cooldown for p in self.pacing.values())
        since = self._now() - timedelta(seconds=longest)
        async with self.db.read() as s:
            rows = (
                await s.exec(
                    select(AuditLog)
                    .where(AuditLog.action == "outbox_breaker_open", col(AuditLog.at) >= since)
                    .order_by(col(AuditLog.at))
                )
            ).all()
        for row in rows:
            key = row.detail.split(": ", 1)[0]
            pacing = self.pacing.get(key.split(":", 1)[0], DEFAULT_PACING["qq"])
            opened = row.at if row.at.tzinfo else row.at.replace(tzinfo=UTC)
            remaining = pacing.breaker_cooldown - (self._now() - opened).total_seconds()
            if remaining > 0:
                state = self._queue(key)
                state.paused_until = self.clock() + remaining
                log.warning("queue %s stays paused %.0fs after the restart", key, remaining)

    async def stop(self) -> None:
        self.running = False
        if self._lease_task is not None:
            self._lease_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._lease_task
            self._lease_task = None
        for task in self.workers.values():
            task.cancel()
        for task in self.workers.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.workers.clear()
        if self.settling:
            await asyncio.wait(set(self.settling), timeout=10)
        # Handed over at once: another process may take these queues now.
        try:
            async with self.db.write() as s:
                await leases.release(s, [self.lease_name, *self._held], self.holder)
        except Exception:
            log.exception("outbox: could not release its leases (they will run out)")
        self._held.clear()

    def _settle(self, item: OutboxItem, state: str, error: str = "") -> None:
        task = asyncio.get_running_loop().create_task(self._finish(item, state, error))
        self.settling.add(task)
        task.add_done_callback(self.settling.discard)

    async def _spawn_pending_queues(self) -> None:
        async with self.db.read() as s:
            keys = (
                await s.exec(
                    select(OutboxItem.queue).where(OutboxItem.state == OUT_PENDING).distinct()
                )
            ).all()
        for key in keys:
            self._ensure_worker(key)

    def _queue(self, key: str) -> QueueState:
        if key not in self.queues:
            platform = key.split(":", 1)[0]
            pacing = self.pacing.get(platform, DEFAULT_PACING["qq"])
            self.queues[key] = QueueState(Pacer(pacing, self.rng))
        return self.queues[key]

    def _ensure_worker(self, key: str) -> None:
        if not self.running:
            return
        self._queue(key)
        task = self.workers.get(key)
        if task is None or task.done():
            self.workers[key] = asyncio.get_running_loop().create_task(self._work(key))

    async def idle(self) -> bool:
        """True when nothing is pending or sending that is due now (for tests, reports)."""
        async with self.db.read() as s:
            n = (
                await s.exec(
                    select(func.count()).select_from(OutboxItem).where(
                        or_(
                            col(OutboxItem.state) == OUT_SENDING,
                            (col(OutboxItem.state) == OUT_PENDING)
                            & (
                                col(OutboxItem.not_before).is_(None)
                                | (col(OutboxItem.not_before) <= self._now())
                            ),
                        )
                    )
                )
            ).one()
        return n == 0

    # --- the worker -----------------------------------------------------------

    async def _next(self, key: str) -> OutboxItem | None:
        async with self.db.read() as s:
            return (
                await s.exec(
                    select(OutboxItem)
                    .where(
                        OutboxItem.queue == key,
                        OutboxItem.state == OUT_PENDING,
                        or_(
                            col(OutboxItem.not_before).is_(None),
                            col(OutboxItem.not_before) <= self._now(),
                        ),
                    )
                    .order_by(col(OutboxItem.priority).desc(), col(OutboxItem.id))
                    .limit(1)
                )
            ).first()

    async def _claim(self, item_id: int) -> bool:
        async with self.db.write() as s:
            result = await s.exec(
                update(OutboxItem)
                .where(col(OutboxItem.id) == item_id, col(OutboxItem.state) == OUT_PENDING)
                .values(
                    state=OUT_SENDING, attempts=OutboxItem.attempts + 1, sending_at=self._now(),
                    claimed_by=self.holder,
                )
            )
            return (result.rowcount or 0) == 1

    async def _finish(self, item: OutboxItem, state: str, error: str = "") -> None:
        async with self.db.write() as s:
            await s.exec(
                update(OutboxItem)
                .where(col(OutboxItem.id) == item.id)
                .values(state=state, error=error[:500], finished_at=self._now())
            )
        item.state, item.error = state, error
        hook = self.hooks.get(item.source.split(":", 1)[0])
        if hook is not None:
            try:
                await hook(item)
            except Exception:  # a report that fails must not stop the queue
                log.exception("outbox hook for %s failed", item.source)

    async def _unclaim(self, item: OutboxItem) -> None:
        async with self.db.write() as s:
            await s.exec(
                update(OutboxItem)
                .where(col(OutboxItem.id) == item.id, col(OutboxItem.state) == OUT_SENDING)
                .values(state=OUT_PENDING, attempts=OutboxItem.attempts - 1, sending_at=None,
                        claimed_by=None)
            )

    async def _wait(self, state: QueueState, seconds: float) -> None:
        """Sleep, but wake early when new work is announced."""
        if self.sleep is not asyncio.sleep:
            await self.sleep(seconds)  # virtual time in tests
            return
        state.wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(state.wake.wait(), timeout=seconds)

    async def _work(self, key: str) -> None:
        state = self.queues[key]
        while self.running:
            try:
                await self._step(key, state)
            except asyncio.CancelledError:
                raise
            except Exception:  # the database was busy, a hook broke: keep the queue alive
                log.exception("outbox worker %s hiccup", key)
                await self.sleep(self.poll)

    async def _step(self, key: str, state: QueueState) -> None:
        now = self.clock()
        if state.paused_until is not None:
            if now < state.paused_until:
                await self.sleep(state.paused_until - now)
                return
            state.paused_until = None  # half-open: one try decides
            state.failures = state.pacer.pacing.breaker_failures - 1
        item = await self._next(key)
        if item is None:
            await self._wait(state, self.poll)
            return
        ready = getattr(self.transport, "ready", None)
        if ready is not None and not ready(item):
            log.info("queue %s: no connected bot, waiting", key)
            await self.sleep(self.poll)
            return
        if not await self._hold_queue(key):  # another process sends for this account
            await self._wait(state, self.poll)
            return
        # Sleep to the slot, then take the item already in hand: re-querying after
        # the sleep would push every send late by one query.
        while (delay := state.pacer.delay(self.clock())) > 0:
            await self.sleep(max(delay, 1e-6))
        slot = self.clock()
        if not await self._claim(item.id):
            return  # cancelled or taken meanwhile
        state.pacer.record(slot)
        try:
            await self.transport.send(item)
            state.pacer.sent(self.clock())
        except NotSent as err:
            await self._unclaim(item)
            log.info("queue %s: no connected bot (%s), waiting", key, err)
            await self.sleep(self.poll)
        except SendFailed as err:
            state.failures += 1
            if state.failures >= state.pacer.pacing.breaker_failures:
                # Before the row settles: until the pause is on record the queue
                # does not look idle, so a stop cannot lose it.
                await self._open_breaker(key, state, err)
            self._settle(item, OUT_FAILED, str(err))
        except asyncio.CancelledError:
            # Shutting down mid-call: we cannot know whether it went out.
            with contextlib.suppress(Exception):
                await asyncio.shield(self._finish(item, OUT_UNKNOWN, "cancelled mid-send"))
            raise
        except Exception as err:
            self._settle(item, OUT_UNKNOWN, f"{type(err).__name__}: {err}")
        else:
            state.failures = 0
            self._settle(item, OUT_SENT)

    async def _open_breaker(self, key: str, state: QueueState, err: SendFailed) -> None:
        cooldown = state.pacer.pacing.breaker_cooldown
        state.paused_until = self.clock() + cooldown
        detail = f"{key}: {state.failures} refusals in a row, last {err}; paused {cooldown:.0f}s"
        log.error("circuit breaker open: %s", detail)
        async with self.db.write() as s:
            await audit(s, "system", "outbox_breaker_open", detail, at=self._now())
        if self.alert is not None:
            try:
                await self.alert(key, detail)
            except Exception:
                log.exception("operator alert failed")

    # --- reading --------------------------------------------------------------

    async def counts(self, source: str) -> dict[str, int]:
        async with self.db.read() as s:
            rows = (
                await s.exec(
                    select(OutboxItem.state, func.count())
                    .where(OutboxItem.source == source)
                    .group_by(OutboxItem.state)
                )
            ).all()
        return {state: n for state, n in rows}


FINAL_STATES = (OUT_SENT, OUT_FAILED, OUT_UNKNOWN, OUT_CANCELLED)
