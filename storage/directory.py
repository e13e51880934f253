"""Who is who and which group is which, kept in memory and never stale.

Every command typed in a group needs the group's binding and the sender's roles.
Read from the tables, that was a session and two statements per message, the
largest share of a check-in's cost. These five tables (chatgroup, account, person,
rolegrant, teammember) change rarely: a binding, an appointment, a roster import.
So the process keeps one snapshot of them and, at each lookup, asks SQLite a
single question: has the directory changed? Triggers on the five tables bump
``directoryversion.n`` (migration 0008), so a write from any connection or process
(``gridbot import`` beside a running bot) is seen at the very next lookup, and a
revoked role never outlives its revocation.

The question and any reload run on a worker thread over a connection of their
own: no blocking call on the event loop, and no reader's thread left behind
when a loop ends (tests run many). Snapshot objects are shared: read-only.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ground.timeutil import as_utc
from storage.models import ChatGroup
from storage.places import LEADER_ROLES, Standing
from storage.repo import ADMIN, STAFF

DIRECTORY_TABLES = frozenset({"chatgroup", "account", "person", "rolegrant", "teammember"})
_VERSION = "SELECT n FROM directoryversion WHERE id = 1"
_ACCOUNTS = (
    "SELECT account.id, person.id, person.name"
    " FROM account JOIN person ON person.id = account.person_id"
)
_GRANTS = "SELECT person_id, role, scope_kind, scope_id, expires_at FROM rolegrant"
_TEAMS = "SELECT person_id, team FROM teammember"
_GROUPS = "SELECT * FROM chatgroup"


@dataclass(frozen=True)
class Grant:
    role: str
    scope_kind: str
    scope_id: int
    expires_at: datetime | None  # aware UTC
    person_id: int = 0

    def live(self, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at > now


@dataclass(frozen=True)
class Member:
    person_id: int
    name: str
    grants: tuple[Grant, ...] = ()
    teams: frozenset[str] = frozenset()


@dataclass
class Snapshot:
    version: int
    groups: dict[tuple[str, str], ChatGroup] = field(default_factory=dict)
    members: dict[str, Member] = field(default_factory=dict)  # by account id

    def binding(self, platform: str, group_id: str | None) -> ChatGroup | None:
        return None if group_id is None else self.groups.get((platform, group_id))

    def roles(self, account: str, now: datetime) -> set[str]:
        """As ``storage.repo.roles_of_account``: live grants' roles and team names."""
        m = self.members.get(account)
        if m is None:
            return set()
        now = as_utc(now)
        return {g.role for g in m.grants if g.live(now)} | set(m.teams)

    def standing(self, account: str, now: datetime, superuser: bool = False) -> Standing:
        """As ``storage.places.leader_standing``: staff flag and leader grants, no teams."""
        m = self.members.get(account)
        if m is None:
            return Standing(account, staff=superuser)
        now = as_utc(now)
        live = [g for g in m.grants if g.live(now)]
        return Standing(
            account=account, person_id=m.person_id, name=m.name,
            staff=superuser or any(g.role in (ADMIN, STAFF) for g in live),
            leader_grants=tuple(g for g in live if g.role in LEADER_ROLES),
        )


def _when(value: str | datetime | None) -> datetime | None:
    # SQLite hands back ISO text, PostgreSQL a (naive UTC) datetime.
    if value is None:
        return None
    return as_utc(value if isinstance(value, datetime) else datetime.fromisoformat(value))


def _load(conn: Any) -> Snapshot:
    """The five tables and their version, in one read transaction (one snapshot)."""
    conn.execute("BEGIN" if isinstance(conn, sqlite3.Connection)
                 else "BEGIN ISOLATION LEVEL REPEATABLE READ")
    try:
        snap = Snapshot(version=conn.execute(_VERSION).fetchone()[0])
        grants: dict[int, list[Grant]] = {}
        for person_id, role, kind, sid, expires in conn.execute(_GRANTS):
            grant = Grant(role, kind, sid, _when(expires), person_id)
            grants.setdefault(person_id, []).append(grant)
        teams: dict[int, set[str]] = {}
        for person_id, team in conn.execute(_TEAMS):
            teams.setdefault(person_id, set()).add(team)
        for account, person_id, name in conn.execute(_ACCOUNTS):
            snap.members[account] = Member(
                person_id, name, tuple(grants.get(person_id, ())),
                frozenset(teams.get(person_id, ())),
            )
        cur = conn.execute(_GROUPS)
        names = [d[0] for d in cur.description]
        for row in cur:
            values = dict(zip(names, row, strict=True))
            values["created_at"] = _when(values.get("created_at"))
            group = ChatGroup.model_validate(values)
            snap.groups[(group.platform, group.group_id)] = group
        return snap
    finally:
        conn.execute("COMMIT")


class Directory:
    """The snapshot of one database, checked against its version at each lookup.

    ``source`` is the SQLite file, or a PostgreSQL connection string (libpq form).

    A lookup within ``reuse_s`` of the last check reuses it when this process has
    written none of the five tables since (``writes``, counted by storage.db after
    each commit that did): this process's own changes are seen at once, another
    process's within ``reuse_s``. Under load that spares most checks."""

    def __init__(self, source: Path | str, writes: Callable[[], int], reuse_s: float = 0.05,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._source = source
        self._writes = writes
        self._reuse_s = reuse_s
        self._monotonic = monotonic
        self._conn: Any = None
        self._lock = threading.Lock()  # one statement at a time on the connection
        self._snap: Snapshot | None = None
        self._last: tuple[int, float, Snapshot] | None = None  # writes, started, result
        # A check in flight, with the write count when it started: a lookup may
        # share it only if nothing was written here since.
        self._pending: tuple[int, asyncio.Future[Snapshot]] | None = None

    async def current(self) -> Snapshot:
        writes, started = self._writes(), self._monotonic()
        last = self._last
        if last is not None and last[0] == writes and started - last[1] < self._reuse_s:
            return last[2]
        pending = self._pending
        if pending is not None and pending[0] == writes and not pending[1].done():
            return await asyncio.shield(pending[1])
        fut = asyncio.ensure_future(asyncio.to_thread(self._fresh))
        self._pending = (writes, fut)
        try:
            snap = await asyncio.shield(fut)
        finally:
            if self._pending is not None and self._pending[1] is fut:
                self._pending = None
        self._last = (writes, started, snap)
        return snap

    def _fresh(self) -> Snapshot:
        with self._lock:
            conn = self._connection()
            version = conn.execute(_VERSION).fetchone()[0]
            snap = self._snap
            if snap is None or snap.version != version:
                snap = self._snap = _load(conn)
            return snap

    def _connection(self) -> Any:
        # Autocommit mode: each check is its own read of the latest commit;
        # _load opens its own transaction. Read-only, to be sure.
        if self._conn is None and isinstance(self._source, Path):
            self._conn = sqlite3.connect(self._source, isolation_level=None,
                                         check_same_thread=False, timeout=10)
            self._conn.execute("PRAGMA query_only=ON")
        elif self._conn is None:
            import psycopg  # only a server database needs it

            self._conn = psycopg.connect(self._source, autocommit=True)
            self._conn.execute("SET default_transaction_read_only = on")
        return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            self._snap = self._last = None
