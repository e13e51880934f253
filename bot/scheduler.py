"""Scheduling core: things due at a moment, fired exactly once.

The truth is our own ``ScheduledItem`` table (kind, ref_id, due_at, state).
APScheduler 3.x only keeps in-memory timers: at start ``rebuild()`` arms one
``DateTrigger`` job per pending row under a deterministic id, so a restart
never duplicates or loses anything, and no job store is ever shared or
pickled (DESIGN.md §5).

A timer calls ``fire(item_id)``, which *claims* the row with an atomic
``UPDATE … WHERE state='pending'`` inside a write transaction (``Database.write``);
only the caller that flipped it runs the handler registered for its kind.
Two scheduler instances on one database (an old process still shutting down,
a test restarting the bot) therefore cannot both fire an item.

Handlers come from a registry handed to the constructor — in production the
``extra["scheduler"]`` declarations of the loaded plugins, in tests whatever
the test passes — never from a module global.

One process schedules: ``start`` takes a lease (``storage.leases``: a
``SchedulerLease`` row on the database's clock, renewed every few seconds,
released at ``stop``). Another process on the same database arms nothing while
the lease is live, says so once in the log, and takes over once it expires (at
once when its holder was a process on this host that is gone).

After a downtime, ``rebuild`` sends an item missed by less than the grace late
(``item.late`` is set, so its handler can say "补发"); older ones are marked
missed and reported once to staff (the ``on_missed`` hooks, each line from the
kind's ``describe`` hook) instead of being sprayed out. Recurring kinds
("every N minutes", "daily at HH:MM") get one catch-up run however long the
downtime, and their next occurrence is queued with the claim.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.tasks import being_cancelled
from ground.timeutil import SHANGHAI, as_utc, utcnow
from storage import leases
from storage.models import ScheduledItem
from storage.models_checkin import (
    ITEM_CANCELLED,
    ITEM_CLAIMED,
    ITEM_DONE,
    ITEM_MISSED,
    ITEM_PENDING,
)
from storage.models_deadlines import SchedulerLease
from storage.repo import first_where

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger("gridbot.scheduler")

TIMEZONE = "Asia/Shanghai"
# APScheduler's own misfire window. Lateness is decided by `rebuild` against
# `late_grace`; once a timer is armed it must run even if the loop was busy.
APS_MISFIRE_GRACE_S = 24 * 3600

LEASE_NAME = "scheduler"

Handler = Callable[["Runtime", ScheduledItem], Awaitable[None]]
StartHook = Callable[["Runtime", "Scheduler"], Awaitable[None]]
# What a missed item was, for people ("提醒 #3：开会"); None = moot, leave it out.
Describe = Callable[["Runtime", AsyncSession, ScheduledItem], Awaitable["str | None"]]
MissedHook = Callable[["Runtime", AsyncSession, Sequence["MissedItem"]], Awaitable[None]]
# The recurrence of definition ``ref_id`` of a recurring kind; None = stopped.
RecurrenceOf = Callable[["Runtime", AsyncSession, int], Awaitable["Recurrence | None"]]


@dataclass(frozen=True)
class SchedulerHooks:
    """What a plugin declares in ``PluginMetadata.extra["scheduler"]``.

    ``handlers`` maps an item kind (``"checkin.remind"``) to the coroutine run
    when such an item is due; ``on_start`` hooks run after each rebuild, e.g.
    to make sure every recurring definition has its next occurrence queued.
    ``describe`` says what a missed item of a kind was; ``on_missed`` hooks
    report the items a downtime made miss (in a write transaction, so outbox
    rows commit with it); ``recurring`` marks kinds whose next occurrence the
    scheduler queues itself (see ``Recurrence``).
    """

    handlers: Mapping[str, Handler] = field(default_factory=dict)
    on_start: tuple[StartHook, ...] = ()
    describe: Mapping[str, Describe] = field(default_factory=dict)
    on_missed: tuple[MissedHook, ...] = ()
    recurring: Mapping[str, RecurrenceOf] = field(default_factory=dict)


def declared_hooks() -> SchedulerHooks:
    """Merge the scheduler declarations of every loaded plugin."""
    import nonebot

    found = []
    for plugin in sorted(nonebot.get_loaded_plugins(), key=lambda p: p.id_):
        meta = plugin.metadata
        hooks = meta.extra.get("scheduler") if meta and isinstance(meta.extra, dict) else None
        if isinstance(hooks, SchedulerHooks):
            found.append(hooks)
    return merge_hooks(*found)


def merge_hooks(*declared: SchedulerHooks) -> SchedulerHooks:
    handlers: dict[str, Handler] = {}
    describe: dict[str, Describe] = {}
    recurring: dict[str, RecurrenceOf] = {}
    on_start: list[StartHook] = []
    on_missed: list[MissedHook] = []
    for hooks in declared:
        for kind, handler in hooks.handlers.items():
            if kind in handlers:
                raise ValueError(f"scheduled kind {kind!r} declared twice")
            handlers[kind] = handler
        describe.update(hooks.describe)
        recurring.update(hooks.recurring)
        on_start.extend(hooks.on_start)
        on_missed.extend(hooks.on_missed)
    return SchedulerHooks(handlers, tuple(on_start), describe, tuple(on_missed), recurring)


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
    existing = await first_where(session, ScheduledItem, ScheduledItem.kind == kind,
                                 ScheduledItem.ref_id == ref_id, ScheduledItem.due_at == due_at)
    if existing is not None:
        return existing
    item = ScheduledItem(kind=kind, ref_id=ref_id, due_at=due_at)
    session.add(item)
    await session.flush()
    return item


async def settle_in(session: AsyncSession, item: ScheduledItem) -> None:
    """Mark a running item done in the handler's own write transaction, with the
    pushes it queued: a crash after that commit cannot leave it "interrupted"
    (reported to staff as maybe-sent) when its messages are safely in the outbox."""
    await session.exec(
        update(ScheduledItem)
        .where(col(ScheduledItem.id) == item.id, col(ScheduledItem.state) == ITEM_CLAIMED)
        .values(state=ITEM_DONE)
    )


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


# --- recurring definitions ---------------------------------------------------------------


@dataclass(frozen=True)
class Recurrence:
    """"Every N minutes" (phase kept from the previous occurrence) or "daily at
    HH:MM" in Asia/Shanghai, whatever the host clock."""

    every: timedelta | None = None
    daily_minute: int | None = None  # minutes after local midnight

    def __post_init__(self) -> None:
        if (self.every is None) == (self.daily_minute is None):
            raise ValueError("a recurrence is either every N minutes or daily at HH:MM")
        if self.every is not None and self.every <= timedelta(0):
            raise ValueError("the interval must be positive")
        if self.daily_minute is not None and not 0 <= self.daily_minute < 1440:
            raise ValueError("daily minute out of range")

    def next_after(self, after: datetime, anchor: datetime | None = None) -> datetime:
        """The first occurrence strictly after ``after`` (aware UTC).

        ``anchor`` (an earlier occurrence) keeps an interval's phase: after two
        hours down, a 10-minute job continues on its own 10-minute grid.
        """
        after = as_utc(after)
        if self.every is not None:
            if anchor is None:
                return after + self.every
            anchor = as_utc(anchor)
            if anchor > after:
                return anchor
            return anchor + ((after - anchor) // self.every + 1) * self.every
        assert self.daily_minute is not None
        day = after.astimezone(SHANGHAI).date()
        for offset in range(2):
            moment = datetime.combine(day + timedelta(days=offset), time(0), tzinfo=SHANGHAI)
            moment += timedelta(minutes=self.daily_minute)
            if moment > after:
                return moment.astimezone(UTC)
        raise AssertionError("unreachable: an occurrence exists within two days")


def every_minutes(minutes: int) -> Recurrence:
    return Recurrence(every=timedelta(minutes=minutes))


def daily_at(minute: int) -> Recurrence:
    """``minute`` after local midnight: ``daily_at(9 * 60)`` is every day at 09:00."""
    return Recurrence(daily_minute=minute)


async def ensure_recurring(
    session: AsyncSession, kind: str, ref_id: int, recurrence: Recurrence, now: datetime
) -> ScheduledItem | None:
    """Queue the next occurrence of a definition that has none pending (a new one,
    or a chain broken by a crash); returns the item to arm, or None."""
    pending = await first_where(session, ScheduledItem, ScheduledItem.kind == kind,
                                ScheduledItem.ref_id == ref_id,
                                ScheduledItem.state == ITEM_PENDING)
    if pending is not None:
        return None
    item = await add_item(session, kind, ref_id, recurrence.next_after(now))
    if item.state != ITEM_PENDING:
        # That occurrence is still ahead of us: a settled row there is stale.
        item.state, item.late = ITEM_PENDING, False
        session.add(item)
    return item


@dataclass(frozen=True)
class MissedItem:
    """One item a downtime made miss, as the staff report lists it."""

    item: ScheduledItem
    text: str  # from the kind's describe hook, or generic
    interrupted: bool  # cut off mid-run: it may or may not have gone out


@dataclass(frozen=True)
class RebuildReport:
    armed: int
    late: int
    missed: int
    leader: bool = True  # False: another process holds the lease, nothing was armed


class Scheduler:
    def __init__(
        self,
        runtime: Runtime,
        handlers: Mapping[str, Handler],
        *,
        on_start: Iterable[StartHook] = (),
        describe: Mapping[str, Describe] | None = None,
        on_missed: Iterable[MissedHook] = (),
        recurring: Mapping[str, RecurrenceOf] | None = None,
        clock: Callable[[], datetime] | None = None,
        late_grace: timedelta | None = None,
        retry_delay: timedelta = timedelta(minutes=1),
        max_attempts: int = 3,
        timezone: str = TIMEZONE,
        lease_ttl: timedelta | None = None,
        lease_renew: timedelta | None = None,
        lease_name: str = LEASE_NAME,
        wall_clock: Callable[[], datetime] = utcnow,
    ) -> None:
        settings = runtime.settings
        self.runtime = runtime
        self.handlers = dict(handlers)
        self.on_start = tuple(on_start)
        self.describe = dict(describe or {})
        self.on_missed = tuple(on_missed)
        self.recurring = dict(recurring or {})
        self._clock = clock
        self.late_grace = late_grace if late_grace is not None else timedelta(
            minutes=getattr(settings, "scheduler_late_grace_minutes", 30)
        )
        self.retry_delay = retry_delay
        self.max_attempts = max_attempts
        # The lease runs on the database's clock (storage.leases): processes must
        # agree on it, and a test clock (``clock``) only decides what is due.
        self.lease_ttl = lease_ttl or timedelta(
            seconds=getattr(settings, "scheduler_lease_ttl_s", 60.0)
        )
        self.lease_renew = lease_renew or timedelta(
            seconds=getattr(settings, "scheduler_lease_renew_s", 20.0)
        )
        self.lease_name = lease_name
        self.holder = leases.new_holder()
        self._wall = wall_clock
        self._leader = False
        self._lease_until: datetime | None = None
        self._lease_task: asyncio.Task | None = None
        self._standby_logged = False
        self.aps = AsyncIOScheduler(
            timezone=timezone,
            job_defaults={
                "coalesce": True,
                "misfire_grace_time": APS_MISFIRE_GRACE_S,
                "max_instances": 1,
            },
        )
        self._inflight: set[asyncio.Task] = set()
        # Each timer's due moment on the runtime clock, to re-time it on a jump.
        self._due: dict[str, datetime] = {}
        self._watched: object | None = None
        self._unwatch: Callable[[], None] | None = None

    @classmethod
    def from_hooks(cls, runtime: Runtime, hooks: SchedulerHooks, **kwargs) -> Scheduler:
        return cls(
            runtime, hooks.handlers, on_start=hooks.on_start, describe=hooks.describe,
            on_missed=hooks.on_missed, recurring=hooks.recurring, **kwargs,
        )

    def now(self) -> datetime:
        self._watch_clock()
        return as_utc((self._clock or self.runtime.clock)())

    @property
    def running(self) -> bool:
        return self.aps.running

    @property
    def leader(self) -> bool:
        """True while this instance holds the lease (and so may arm timers)."""
        return self._leader

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> RebuildReport:
        """Take the lease and arm what is due; without it, stand by and retry."""
        if await self._take_lease():
            report = await self._activate()
        else:
            report = RebuildReport(0, 0, 0, leader=False)
        if self._lease_task is None or self._lease_task.done():
            self._lease_task = asyncio.create_task(self._keep_lease(), name="scheduler-lease")
        return report

    async def _activate(self) -> RebuildReport:
        self._leader, self._standby_logged = True, False
        if not self.aps.running:
            self.aps.start()
        report = await self.rebuild()
        for hook in self.on_start:
            await hook(self.runtime, self)
        log.info(
            "scheduler started: %d armed, %d late, %d missed",
            report.armed, report.late, report.missed,
        )
        return report

    def _deactivate(self) -> None:
        """Lease lost: drop every timer (another process now owns the schedule)."""
        self._leader = False
        self._due.clear()
        if self.aps.running:
            self.aps.remove_all_jobs()

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop arming, let handlers already running finish (bounded), release the lease."""
        task, self._lease_task = self._lease_task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:  # the lease loop met an error on its way out
                log.exception("the scheduler lease check ended with an error")
        if self.aps.running:
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
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch, self._watched = None, None
        self._due.clear()
        if self._leader:
            self._leader = False
            await self._release_lease()

    # --- the lease ---------------------------------------------------------------------

    async def _take_lease(self) -> bool:
        """Hold the lease if it is free, over or already ours (``storage.leases``: on
        the database's clock, taken in a write transaction, so two processes cannot
        both see it free)."""
        async with self.runtime.db.write() as s:
            taken = await leases.take(s, self.lease_name, self.holder, self.lease_ttl)
            lease = None if taken else await s.get(SchedulerLease, self.lease_name)
        if not taken:
            if not self._standby_logged and lease is not None:
                self._standby_logged = True
                log.error(
                    "another process holds the scheduler lease until %s: this one arms "
                    "nothing and retries every %g s",
                    as_utc(lease.expires_at).isoformat(), self.lease_renew.total_seconds(),
                )
            return False
        self._lease_until = as_utc(self._wall()) + self.lease_ttl
        return True

    async def _release_lease(self) -> None:
        """End our lease now, so a standby process takes over at its next try."""
        try:
            async with self.runtime.db.write() as s:
                await leases.release(s, [self.lease_name], self.holder)
        except Exception:
            log.exception("could not release the scheduler lease (it will expire)")

    async def _keep_lease(self) -> None:
        """Renew while leading; while standing by, try to take over an expired lease."""
        while True:
            await asyncio.sleep(self.lease_renew.total_seconds())
            try:
                if self._leader:
                    if not await self._take_lease():  # renewed: ours, or taken over
                        log.error("scheduler lease taken by another process: disarming")
                        self._deactivate()
                    else:
                        await self._adopt()
                elif await self._take_lease():
                    log.warning("scheduler lease taken over (its holder stopped renewing)")
                    await self._activate()
            except Exception:
                if being_cancelled():
                    raise
                log.exception("scheduler lease check failed")
                if (
                    self._leader and self._lease_until is not None
                    and as_utc(self._wall()) >= self._lease_until
                ):
                    log.error("scheduler lease expired unrenewed: disarming")
                    self._deactivate()

    async def _adopt(self) -> int:
        """Arm the pending items this process has no timer for: queued by another
        process on the same database (a command it answered), which cannot arm
        them itself. Seen at the next renewal, so at most ``lease_renew`` late."""
        async with self.runtime.db.read() as s:
            rows = (await s.exec(
                select(ScheduledItem).where(col(ScheduledItem.state) == ITEM_PENDING)
            )).all()
        adopted = 0
        for item in rows:
            if job_id(item.kind, item.ref_id, item.due_at) not in self._due and self.arm(item):
                adopted += 1
        return adopted

    # --- arming ------------------------------------------------------------------------

    def arm(self, item: ScheduledItem, delay: timedelta | None = None) -> bool:
        """Set an in-memory timer for a pending item; False when not running.

        The timer fires at ``due_at``, or ``delay`` from now (late items, retries),
        both on the runtime clock: APScheduler waits on the host clock, so it is
        handed the *distance* to that moment, and re-timed whenever the runtime
        clock jumps (``ManualClock.advance`` in tests, see ``_retime``).
        """
        if not self.aps.running or not self._leader or item.id is None:
            return False
        if item.kind not in self.handlers:
            log.warning("no handler for scheduled kind %s (item %s)", item.kind, item.id)
            return False
        self._watch_clock()
        due = as_utc(item.due_at) if delay is None else self.now() + delay
        jid = job_id(item.kind, item.ref_id, item.due_at)
        self._due[jid] = due
        self.aps.add_job(
            self.fire,
            trigger=DateTrigger(run_date=self._host_time(due)),
            args=[item.id],
            id=jid,
            replace_existing=True,
            coalesce=True,
            misfire_grace_time=APS_MISFIRE_GRACE_S,
        )
        return True

    def _host_time(self, due: datetime) -> datetime:
        """The host-clock moment at which ``due`` (runtime clock) arrives, in the
        scheduler's zone (Asia/Shanghai, the same instant whatever the host zone)."""
        wait = max(due - self.now(), timedelta(0))
        return (datetime.now(UTC) + wait).astimezone(self.aps.timezone)

    def _watch_clock(self) -> None:
        """Follow the runtime clock's jumps; a clock swapped in re-times every timer."""
        clock = self._clock or self.runtime.clock
        if clock is self._watched:
            return
        if self._unwatch is not None:
            self._unwatch()
        on_jump = getattr(clock, "on_jump", None)
        self._unwatch = on_jump(self._retime) if callable(on_jump) else None
        swapped = self._watched is not None
        self._watched = clock
        if swapped:
            self._retime()

    def _retime(self) -> None:
        """The runtime clock jumped: move every timer to its new distance."""
        if not self.aps.running:
            return
        live = set()
        for job in self.aps.get_jobs():
            due = self._due.get(job.id)
            if due is None:
                continue
            live.add(job.id)
            job.modify(next_run_time=self._host_time(due))
        for jid in set(self._due) - live:
            del self._due[jid]
        self.aps.wakeup()

    def timers(self) -> dict[str, datetime]:
        """Armed timers: job id -> due moment on the runtime clock (aware UTC)."""
        if not self.aps.running:
            return {}
        return {j.id: self._due[j.id] for j in self.aps.get_jobs() if j.id in self._due}

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until no timer is due on the runtime clock and no handler runs
        (after a test advanced the clock)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        quiet = 0
        while quiet < 3:
            await asyncio.sleep(0.005 if quiet else 0)
            now = self.now()
            due = [
                j for j in self.aps.get_jobs()
                if j.id in self._due and self._due[j.id] <= now
            ] if self.aps.running else []
            busy = bool(due) or bool(self._inflight)
            quiet = 0 if busy else quiet + 1
            if loop.time() > deadline:
                raise TimeoutError(f"scheduler still busy: {len(due)} due, "
                                   f"{len(self._inflight)} running")

    def disarm(self, items: Iterable[ScheduledItem]) -> None:
        for item in items:
            jid = job_id(item.kind, item.ref_id, item.due_at)
            self._due.pop(jid, None)
            job = self.aps.get_job(jid)
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
        marked missed. Missed items are reported once to staff (``on_missed``).
        A recurring kind's overdue item runs once, late, whatever its age.
        """
        now = self.now()
        armed = late = missed = 0
        newly_missed: list[tuple[ScheduledItem, bool]] = []
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
                    newly_missed.append((item, True))
                elif due > now:
                    to_arm.append((item, None))
                elif item.kind in self.recurring or now - due <= self.late_grace:
                    item.late = True
                    s.add(item)
                    to_arm.append((item, timedelta(0)))
                    late += 1
                else:
                    log.warning("item %s (%s) due %s missed while stopped",
                                item.id, item.kind, due.isoformat())
                    item.state = ITEM_MISSED
                    s.add(item)
                    missed += 1
                    newly_missed.append((item, False))
        for item, delay in to_arm:
            if self.arm(item, delay):
                armed += 1
        await self._report_missed(newly_missed)
        return RebuildReport(armed, late, missed)

    async def _report_missed(self, found: Sequence[tuple[ScheduledItem, bool]]) -> None:
        """Tell staff, once, what a downtime made miss.

        The items are already marked missed (committed) when this runs: a
        report that cannot be written is logged, never retried into a second one.
        """
        if not found:
            return
        if not self.on_missed:
            log.warning("%d scheduled items missed; no plugin reports them", len(found))
            return
        try:
            async with self.runtime.db.write() as s:
                report: list[MissedItem] = []
                for item, interrupted in found:
                    text = await self._describe(s, item)
                    if text is not None:
                        report.append(MissedItem(item, text, interrupted))
                if report:
                    for hook in self.on_missed:
                        await hook(self.runtime, s, report)
        except Exception:
            log.exception("could not report %d missed items to staff", len(found))

    async def _describe(self, session: AsyncSession, item: ScheduledItem) -> str | None:
        generic = f"{item.kind} #{item.ref_id}"
        describe = self.describe.get(item.kind)
        if describe is None:
            return generic
        try:
            return await describe(self.runtime, session, item)
        except Exception:
            log.exception("describing missed item %s failed", item.id)
            return generic

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
            following = await self._queue_following(s, item)
        self.disarm([item])  # fired directly (not by its timer): the timer is moot
        if following is not None:
            self.arm(following)
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

    async def _queue_following(
        self, session: AsyncSession, item: ScheduledItem
    ) -> ScheduledItem | None:
        """A recurring kind's next occurrence, queued with the claim so a crash
        mid-run cannot break the chain. Counted from now, not from ``due_at``:
        after a long downtime the overdue item is the one catch-up run."""
        recurrence_of = self.recurring.get(item.kind)
        if recurrence_of is None:
            return None
        recurrence = await recurrence_of(self.runtime, session, item.ref_id)
        if recurrence is None:
            return None
        after = max(as_utc(item.due_at), self.now())
        return await add_item(
            session, item.kind, item.ref_id, recurrence.next_after(after, anchor=item.due_at)
        )

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
