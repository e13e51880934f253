"""Time helpers: the database stores aware UTC, people live in Asia/Shanghai."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(dt: datetime) -> datetime:
    """SQLite hands back naive UTC; everything compared is aware UTC."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def local(dt: datetime) -> datetime:
    """Any aware datetime (naive = UTC, as SQLite hands it back) -> Asia/Shanghai."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(SHANGHAI)


def fmt(dt: datetime) -> str:
    """How people read a moment: 11-30 18:00 (Asia/Shanghai)."""
    return local(dt).strftime("%m-%d %H:%M")
