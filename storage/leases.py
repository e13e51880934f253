"""Named leases on the database: who may do a thing that must be done by one process.

A lease is a ``SchedulerLease`` row (name, holder, expiry). A holder names its
process: ``host/pid/random``. It is live while its expiry lies ahead on the
*database's* clock (PostgreSQL's ``now()``; with SQLite, one host's clock), and it
is over at once when the holder is a process on this host that no longer runs (a
restart after ``kill -9`` need not wait out the lease).

Callers take and renew leases inside ``Database.write()``, whose writers take
turns across processes, so two processes never both see a lease free.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from ground.timeutil import as_utc
from storage.models_deadlines import SchedulerLease


def new_holder() -> str:
    return f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"


def holder_gone(holder: str) -> bool:
    """True for a holder on this host whose process has ended."""
    host, _, rest = holder.partition("/")
    pid = rest.partition("/")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return False


async def db_now(session: AsyncSession) -> datetime:
    """Now on the database's clock, aware UTC: the one clock processes share."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        value = (await session.exec(text("SELECT now()"))).scalar_one()  # type: ignore[call-overload]
        return value.astimezone(UTC)
    return datetime.now(UTC)


def live(lease: SchedulerLease, now: datetime) -> bool:
    return as_utc(lease.expires_at) > now and not holder_gone(lease.holder)


async def take(session: AsyncSession, name: str, holder: str, ttl: timedelta,
               now: datetime | None = None) -> bool:
    """Hold ``name`` for ``ttl`` if it is free, over, or already ``holder``'s
    (``now``: the database's clock, when the caller has read it already)."""
    now = now or await db_now(session)
    lease = await session.get(SchedulerLease, name)
    if lease is None:
        session.add(SchedulerLease(name=name, holder=holder, acquired_at=now,
                                   expires_at=now + ttl))
        return True
    if lease.holder != holder and live(lease, now):
        return False
    if lease.holder != holder:
        lease.holder, lease.acquired_at = holder, now
    lease.expires_at = now + ttl
    session.add(lease)
    return True


async def release(session: AsyncSession, names: list[str], holder: str) -> None:
    """End ``holder``'s leases among ``names`` now (a clean stop hands over at once)."""
    if not names:
        return
    now = await db_now(session)
    await session.exec(  # type: ignore[call-overload]
        update(SchedulerLease)
        .where(col(SchedulerLease.name).in_(names), col(SchedulerLease.holder) == holder)
        .values(expires_at=now)
    )


async def live_holders(session: AsyncSession, prefix: str,
                       now: datetime | None = None) -> set[str]:
    """The holders of live leases whose names start with ``prefix``."""
    now = now or await db_now(session)
    rows = (await session.exec(
        select(SchedulerLease).where(col(SchedulerLease.name).startswith(prefix)))).all()
    return {lease.holder for lease in rows if live(lease, now)}
