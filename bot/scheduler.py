"""Scheduling core: things due at a moment, fired exactly once.

The truth is our own ``ScheduledItem`` table (kind, ref_id, due_at, state).
APScheduler 3.x only keeps in-memory timers: at start ``rebuild()`` arms one
``DateTrigger`` job per pending row under a deterministic id, so a restart
never duplicates or loses anything, and no job store is ever shared or
pickled (DESIGN.md §5).

A timer calls ``fire(item_id)``, which *claims* the row with an atomic
``UPDATE … WHERE state='pending'`` inside a ``BEGIN IMMEDIATE`` transaction;
only the caller that flipped it runs the handler registered for its kind.
Two scheduler instances on one database (an old process still shutting down,
a test restarting the bot) therefore cannot both fire an item.

Handlers come from a registry handed to the constructor — in production the
``extra["scheduler"]`` declarations of the loaded plugins, in tests whatever
the test passes — never from a module global.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import ScheduledItem
from storage.models_checkin import (
    ITEM_CANCELLED,
    ITEM_CLAIMED,
    ITEM_DONE,
    ITEM_MISSED,
    ITEM_PENDING,
)

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger("gridbot.scheduler")

TIMEZONE = "Asia/Shanghai"
# APScheduler's own misfire window. Lateness is decided by `rebuild` against
# `late_grace`; once a timer is armed it must run even if the loop was busy.
APS_MISFIRE_GRACE_S = 24 * 3600

Handler = Callable[["Runtime", ScheduledItem], Awaitable[None]]
StartHook = Callable[["Runtime", "Scheduler"], Awaitable[None]]


@dataclass(frozen=True)
class SchedulerHooks:
    """What a plugin declares in ``PluginMetadata.extra["scheduler"]``.

    ``handlers`` maps an item kind (``"checkin.remind"``) to the coroutine run
    when such an item is due; ``on_start`` hooks run after each rebuild, e.g.
    to make sure every recurring definition has its next occurrence queued.
    """

    handlers: Mapping[str, Handler] = field(default_factory=dict)
    on_start: tuple[StartHook, ...] = ()


def declared_hooks() -> SchedulerHooks:
    """Merge the scheduler declarations of every loaded plugin."""
    import nonebot

    handlers: dict[str, Handler] = {}
    on_start: list[StartHook] = []
    for plugin in sorted(nonebot.get_loaded_plugins(), key=lambda p: p.id_):
        meta = plugin.metadata
        hooks = meta.extra.get("scheduler") if meta and isinstance(meta.extra, dict) else None
        if isinstance(hooks, SchedulerHooks):
            for kind, handler in hooks.handlers.items():
                if kind in handlers:
                    raise ValueError(f"scheduled kind {kind!r} declared twice")
                handlers[kind] = handler
            on_start.extend(hooks.on_start)
    return SchedulerHooks(handlers, tuple(on_start))


def as_utc(dt: datetime) -> datetime:
    """SQLite hands back naive UTC; everything compared here is aware UTC."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def job_id(kind: str, ref_id: int, due_at: datetime) -> str:
    return f"{kind}:{ref_id}:{as_utc(due_at):%Y%m%d%H%M}"


async def add_item(
    session: AsyncSession, kind: str, ref_id: int, due_at: datetime
) -> ScheduledItem:
    """Queue an item in the caller's write transaction (idempotent per kind/ref/due).

    The caller arms it with ``Scheduler.arm`` after commit; if the process dies
    in between, the next start's rebuild arms it.
    """
    due_at = as_utc(due_at)
    existing = (
        await session.exec(
            select(ScheduledItem).where(
                ScheduledItem.kind == kind,
                ScheduledItem.ref_id == ref_id,
                ScheduledItem.due_at == due_at,
            )
        )
    ).first()
    if existing is not None:
        return existing
    item = ScheduledItem(kind=kind, ref_id=ref_id, due_at=due_at)
    session.add(item)
    await session.flush()
    return item


async def cancel_items(
    session: AsyncSession, kinds: Iterable[str], ref_id: int
) -> list[ScheduledItem]:
    """Mark the pending items of one owner cancelled (in the caller's transaction).

    Kinds are listed explicitly: ref ids of different kinds live in different
    id spaces (a round #3 and a daily definition #3 are unrelated).
    """
    rows = (
        await session.exec(
            select(ScheduledItem).where(
                col(ScheduledItem.kind).in_(tuple(kinds)),
                ScheduledItem.ref_id == ref_id,
                ScheduledItem.state == ITEM_PENDING,
            )
        )
    ).all()
    for item in rows:
        item.state = ITEM_CANCELLED
        session.add(item)
    return list(rows)


@dataclass(frozen=True)
class RebuildReport:
    armed: int
    late: int
    missed: int


class Scheduler:
    def __init__(
        self,
        runtime: Runtime,
        handlers: Mapping[str, Handler],
        *,
        on_start: Iterable[StartHook] = (),
        clock: Callable[[], datetime] | None = None,
        late_grace: timedelta = timedelta(minutes=30),
        retry_delay: timedelta = timedelta(minutes=1),
        max_attempts: int = 3,
        timezone: str = TIMEZONE,
    ) -> None:
        self.runtime = runtime
        self.handlers = dict(handlers)
        self.on_start = tuple(on_start)
        self._clock = clock
        self.late_grace = late_grace
        self.retry_delay = retry_delay
        self.max_attempts = max_attempts
        self.aps = AsyncIOScheduler(
            timezone=timezone,
            job_defaults={
                "coalesce": True,
                "misfire_grace_time": APS_MISFIRE_GRACE_S,
                "max_instances": 1,
            },
        )
        self._inflight: set[asyncio.Task] = set()

    @classmethod
    def from_hooks(cls, runtime: Runtime, hooks: SchedulerHooks, **kwargs) -> Scheduler:
        return cls(runtime, hooks.handlers, on_start=hooks.on_start, **kwargs)

    def now(self) -> datetime:
        return as_utc((self._clock or self.runtime.now)())

    @property
    def running(self) -> bool:
        return self.aps.running

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> RebuildReport:
        self.aps.start()
        report = await self.rebuild()
        for hook in self.on_start:
            await hook(self.runtime, self)
        log.info(
            "scheduler started: %d armed, %d late, %d missed",
            report.armed, report.late, report.missed,
        )
        return report

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop arming and let handlers already running finish (bounded)."""
        if not self.aps.running:
            return
        self.aps.pause()
        pending = {t for t in self._inflight if t is not asyncio.current_task()}
        if pending:
            await asyncio.wait(pending, timeout=timeout)
        self.aps.shutdown(wait=False)
        # AsyncIOScheduler shuts down from a loop callback; let it run.
        for _ in range(100):
            if not self.aps.running:
                break
            await asyncio.sleep(0)

    # --- arming ------------------------------------------------------------------------

    def arm(self, item: ScheduledItem, delay: timedelta | None = None) -> bool:
        """Set an in-memory timer for a pending item; False when not running.

        The timer fires at ``due_at``, or ``delay`` from now (late items, retries).
        "Now" there is the wall clock APScheduler runs on, not ``self.now()``:
        a test clock decides what is late, the event loop decides when to wake.
        """
        if not self.aps.running or item.id is None:
            return False
        if item.kind not in self.handlers:
            log.warning("no handler for scheduled kind %s (item %s)", item.kind, item.id)
            return False
        run_at = as_utc(item.due_at) if delay is None else datetime.now(UTC) + delay
        self.aps.add_job(
            self.fire,
            trigger=DateTrigger(run_date=run_at),
            args=[item.id],
            id=job_id(item.kind, item.ref_id, item.due_at),
            replace_existing=True,
            coalesce=True,
            misfire_grace_time=APS_MISFIRE_GRACE_S,
        )
        return True

    def disarm(self, items: Iterable[ScheduledItem]) -> None:
        for item in items:
            job = self.aps.get_job(job_id(item.kind, item.ref_id, item.due_at))
            if job is not None:
                job.remove()

    async def schedule(self, kind: str, ref_id: int, due_at: datetime) -> ScheduledItem:
        """Queue and arm in one go (own transaction)."""
        async with self.runtime.db.write() as s:
            item = await add_item(s, kind, ref_id, due_at)
        self.arm(item)
        return item

    async def rebuild(self) -> RebuildReport:
        """Arm every pending item; fire slightly late ones now, mark older ones missed.

        Items left ``claimed`` were cut off mid-run by a crash: whether their
        message went out is unknown, and firing twice is worse than once too
        few (an escalation sent twice reads as two incidents), so they are
        marked missed and logged.
        """
        now = self.now()
        armed = late = missed = 0
        async with self.runtime.db.write() as s:
            rows = (
                await s.exec(
                    select(ScheduledItem)
                    .where(col(ScheduledItem.state).in_((ITEM_PENDING, ITEM_CLAIMED)))
                    .order_by(ScheduledItem.due_at, ScheduledItem.id)
                )
            ).all()
            to_arm: list[tuple[ScheduledItem, timedelta | None]] = []
            for item in rows:
                due = as_utc(item.due_at)
                if item.state == ITEM_CLAIMED:
                    log.warning("item %s (%s) was interrupted mid-run; not re-fired",
                                item.id, item.kind)
                    item.state = ITEM_MISSED
                    s.add(item)
                    missed += 1
                elif due > now:
                    to_arm.append((item, None))
                elif now - due <= self.late_grace:
                    to_arm.append((item, timedelta(0)))
                    late += 1
                else:
                    log.warning("item %s (%s) due %s missed while stopped",
                                item.id, item.kind, due.isoformat())
                    item.state = ITEM_MISSED
                    s.add(item)
                    missed += 1
        for item, delay in to_arm:
            if self.arm(item, delay):
                armed += 1
        return RebuildReport(armed, late, missed)

    # --- firing ------------------------------------------------------------------------

    async def fire(self, item_id: int) -> bool:
        """Claim and run one item. True if this call ran its handler successfully."""
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        try:
            return await self._fire(item_id)
        finally:
            if task is not None:
                self._inflight.discard(task)

    async def _fire(self, item_id: int) -> bool:
        async with self.runtime.db.write() as s:
            item = await s.get(ScheduledItem, item_id)
            if item is None or item.kind not in self.handlers:
                return False
            result = await s.exec(
                update(ScheduledItem)
                .where(col(ScheduledItem.id) == item_id, col(ScheduledItem.state) == ITEM_PENDING)
                .values(
                    state=ITEM_CLAIMED,
                    fired_at=self.now(),
                    attempts=col(ScheduledItem.attempts) + 1,
                )
            )
            if result.rowcount != 1:
                return False
            await s.refresh(item)
        handler = self.handlers[item.kind]
        try:
            await handler(self.runtime, item)
        except Exception:
            log.exception("scheduled %s for %s failed (attempt %d)",
                          item.kind, item.ref_id, item.attempts)
            await self._after_failure(item)
            return False
        await self._finish(item_id, ITEM_DONE)
        return True

    async def _finish(self, item_id: int, state: str) -> None:
        async with self.runtime.db.write() as s:
            await s.exec(
                update(ScheduledItem)
                .where(col(ScheduledItem.id) == item_id, col(ScheduledItem.state) == ITEM_CLAIMED)
                .values(state=state)
            )

    async def _after_failure(self, item: ScheduledItem) -> None:
        """Retry later (a bot may just be reconnecting) until attempts run out."""
        if item.attempts >= self.max_attempts:
            await self._finish(item.id, ITEM_MISSED)  # type: ignore[arg-type]
            return
        async with self.runtime.db.write() as s:
            await s.exec(
                update(ScheduledItem)
                .where(col(ScheduledItem.id) == item.id, col(ScheduledItem.state) == ITEM_CLAIMED)
                .values(state=ITEM_PENDING)
            )
        # The row keeps its due_at (its identity); only the timer moves.
        self.arm(item, self.retry_delay)
