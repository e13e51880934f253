"""The runtime clock: the one source of "now" for handlers, jobs, timers and the outbox.

A clock is any callable returning an aware datetime. Production uses the
system clock. ``ManualClock`` starts at a chosen instant and is either frozen
(tests step it with ``advance``) or ticking from there (a drill or a demo run
at a given hour, a process test that must not depend on the real date).

The scheduler arms its APScheduler timers by the *distance* to an item's due
time on this clock, and a ``ManualClock`` tells its listeners when it jumps,
so a test that advances the clock fires what became due without any
wall-clock sleep.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from ground.timeutil import SHANGHAI

Now = Callable[[], datetime]
JumpListener = Callable[[], None]


def system_now() -> datetime:
    """The host's clock, shown in Asia/Shanghai whatever the host zone."""
    return datetime.now(SHANGHAI)


class ManualClock:
    """A clock that starts at ``at``; frozen unless ``ticking``; jumps with ``advance``/``set``."""

    def __init__(
        self,
        at: datetime,
        *,
        ticking: bool = False,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if at.tzinfo is None:
            raise ValueError("a clock starts at an aware datetime")
        self._base = at
        self._ticking = ticking
        self._monotonic = monotonic
        self._t0 = monotonic()
        self._listeners: list[JumpListener] = []

    def __call__(self) -> datetime:
        now = self._base
        if self._ticking:
            now += timedelta(seconds=self._monotonic() - self._t0)
        return now.astimezone(SHANGHAI)

    @property
    def at(self) -> datetime:
        return self()

    @at.setter
    def at(self, value: datetime) -> None:
        self.set(value)

    def set(self, at: datetime) -> None:
        """Jump to ``at`` (forwards or backwards) and tell the listeners."""
        if at.tzinfo is None:
            raise ValueError("a clock is set to an aware datetime")
        self._base, self._t0 = at, self._monotonic()
        for listener in list(self._listeners):
            listener()

    def advance(self, delta: timedelta | None = None, **kw: float) -> None:
        self.set(self() + (delta if delta is not None else timedelta(**kw)))

    def on_jump(self, listener: JumpListener) -> Callable[[], None]:
        """Call ``listener`` after every jump; returns the function that unsubscribes."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe


def clock_from_setting(start: str) -> Now:
    """``GRIDBOT_CLOCK_START``: empty for the system clock, else an ISO instant
    (Asia/Shanghai when no offset is given) from which the clock runs on."""
    if not start:
        return system_now
    at = datetime.fromisoformat(start)
    if at.tzinfo is None:
        at = at.replace(tzinfo=SHANGHAI)
    return ManualClock(at, ticking=True)


def utc(clock: Now) -> datetime:
    """``clock()`` as aware UTC (what the database stores and compares)."""
    return clock().astimezone(UTC)
