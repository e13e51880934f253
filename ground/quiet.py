"""Quiet hours (``22:00-07:00``; empty = none), in Asia/Shanghai whatever the host zone.

One definition for every capability that holds messages back at night: ordinary
broadcasts, slogans, policy reminders, recurring duties.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from ground.timeutil import SHANGHAI, local


def parse_quiet(spec: str) -> tuple[time, time] | None:
    if not spec:
        return None
    a, b = spec.split("-")
    return time.fromisoformat(a), time.fromisoformat(b)


def in_quiet_hours(minute: int, quiet: str) -> bool:
    """Whether a daily time (minutes after local midnight) falls in the quiet hours."""
    window = parse_quiet(quiet)
    if window is None:
        return False
    start, end = window
    a, b = start.hour * 60 + start.minute, end.hour * 60 + end.minute
    return a <= minute < b if a <= b else (minute >= a or minute < b)


def quiet_until(now: datetime, spec: str) -> datetime | None:
    """If ``now`` falls in the quiet hours, the moment they end (Asia/Shanghai)."""
    window = parse_quiet(spec)
    if window is None:
        return None
    start, end = window
    t = local(now)
    clock = t.timetz().replace(tzinfo=None)
    if start <= end:
        inside = start <= clock < end
    else:  # across midnight, e.g. 22:00-07:00
        inside = clock >= start or clock < end
    if not inside:
        return None
    day = t.date() if clock < end else t.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=SHANGHAI)
