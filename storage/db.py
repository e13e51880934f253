"""The async engine (SQLite with the production pragmas, or PostgreSQL) and explicit
write transactions.

Writes are serialised inside the process: `Database.write()` waits its turn in
one FIFO queue (an `asyncio.Lock`, which wakes waiters in arrival order) and
only then checks out a connection and issues `BEGIN IMMEDIATE`. Pooled
connections racing for SQLite's file lock turned a slow moment into
"database is locked" once `busy_timeout` ran out; a queue in the process
cannot time out that way, and a waiting writer holds no pooled connection that
readers could use. `busy_timeout` stays for *other* processes (`gridbot import`,
a second bot in standby). Reads stay concurrent (WAL).

On PostgreSQL the same queue holds inside the process, and a transaction-level
advisory lock orders writers across processes the way BEGIN IMMEDIATE does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import sqlite_driver
from storage.directory import DIRECTORY_TABLES, Directory

log = logging.getLogger("gridbot.storage")

BUSY_TIMEOUT_MS = 10_000
# How long a writer waits for its turn in the queue before giving up loudly: far
# beyond any transaction the bot runs, so it only fires when one is stuck.
WRITE_QUEUE_TIMEOUT_S = 60.0
_IMMEDIATE = "gridbot_immediate"
# PostgreSQL: every write transaction first takes this transaction-level advisory
# lock, so writers queue across processes as SQLite's BEGIN IMMEDIATE makes them do.
WRITE_LOCK_KEY = 0x67726964  # "grid"
_TAKE_WRITE_LOCK = text(f"SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})")
_PG_EPOCH = datetime(2000, 1, 1)

# Write transactions committed in the current task's context (a task's children
# inherit a copy). bot.intake compares it before and after a failed handler to
# tell "nothing was recorded" from "something may have been".
_commits: ContextVar[int] = ContextVar("gridbot_db_commits", default=0)


def commits_in_context() -> int:
    return _commits.get()


class NestedWriteError(RuntimeError):
    """`db.write()` inside another `db.write()` of the same task: it would wait
    for itself forever. Pass the open session down instead."""


class WriteQueueTimeout(RuntimeError):
    """A writer waited longer than `write_timeout` for its turn."""


_DIRECTORY_WRITE = "gridbot_directory_write"
# In a write session's info on SQLite: the driver connection under it, its info and
# the dialect (storage.prepared).
RAW_WRITE = "gridbot_raw_write"
_WRITE_TARGET = re.compile(
    r"\s*(?:INSERT(?:\s+OR\s+\w+)?\s+INTO|REPLACE\s+INTO|UPDATE(?:\s+OR\s+\w+)?|DELETE\s+FROM)"
    r"\s+\"?(\w+)", re.IGNORECASE,
)


def _note_directory_writes(engine: AsyncEngine) -> None:
    """Mark a connection that wrote a directory table, for the Directory's reuse."""

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _on_execute(conn, _cursor, statement, _params, _context, _many) -> None:
        note_directory_write(conn.info, statement)


def note_directory_write(info: dict, statement: str) -> None:
    """Mark a connection (its ``info``) whose ``statement`` writes a directory table."""
    if statement.startswith(("SELECT", "select")):  # the common case, decided at once
        return
    m = _WRITE_TARGET.match(statement)
    if m is not None and m.group(1).lower() in DIRECTORY_TABLES:
        info[_DIRECTORY_WRITE] = True


def _install_pragmas(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # pragma: no cover - exercised via tests
        # Take transaction control away from the driver so we can issue
        # BEGIN IMMEDIATE ourselves: a deferred BEGIN that later writes fails
        # with SQLITE_BUSY at once instead of honouring busy_timeout.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        statement = "BEGIN IMMEDIATE" if immediate else "BEGIN"
        dbapi_conn = conn.connection.dbapi_connection
        if isinstance(dbapi_conn, sqlite_driver.OneHopConnection):
            # No hop of its own; a write transaction has begun already (Database.write).
            sqlite_driver.begin_unless_begun(dbapi_conn, statement)
        else:
            conn.exec_driver_sql(statement)


SYNC_DRIVERS = {"sqlite": "sqlite", "postgresql": "postgresql+psycopg"}


def backend(url: str) -> str:
    """``sqlite`` or ``postgresql``: the engine behind a database URL."""
    return make_url(url).get_backend_name()


def _pg_timestamp_in(value: datetime) -> tuple[int]:
    # Times are aware UTC in the code and naive UTC in the columns (as SQLite keeps
    # them): an aware value is stored as its UTC wall time, whatever the statement.
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    d = value - _PG_EPOCH
    return ((d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds,)


def _pg_timestamp_out(value: tuple[int]) -> datetime:
    return _PG_EPOCH + timedelta(microseconds=value[0])


def _install_pg_codecs(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        dbapi_conn.run_async(lambda conn: conn.set_type_codec(
            "timestamp", schema="pg_catalog", encoder=_pg_timestamp_in,
            decoder=_pg_timestamp_out, format="tuple"))


def sync_url(url: str) -> str:
    """The same database for sync tools (Alembic, backup, import)."""
    u = make_url(url)
    return u.set(drivername=SYNC_DRIVERS[u.get_backend_name()]).render_as_string(
        hide_password=False)


def libpq_url(url: str) -> str:
    """A PostgreSQL URL in libpq's own form, for psycopg's ``connect``."""
    return sync_url(url).replace("postgresql+psycopg://", "postgresql://", 1)


def db_path(url: str) -> Path | None:
    """The SQLite file behind a URL (None for memory or a server database)."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


class Database:
    """Owns the engine; hands out read sessions and (queued) write transactions."""

    def __init__(self, url: str, write_timeout: float | None = WRITE_QUEUE_TIMEOUT_S,
                 pool_size: int = 10) -> None:
        self.url = url
        self.write_timeout = write_timeout
        self.sqlite = backend(url) == "sqlite"
        kwargs: dict = {}
        if self.sqlite:
            path = db_path(url)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": BUSY_TIMEOUT_MS / 1000}
            if make_url(url).get_dialect().driver == "aiosqlite":
                kwargs["module"] = sqlite_driver.dbapi()  # one thread hop per statement
        else:
            kwargs.update(pool_size=pool_size)
        self.engine = create_async_engine(url, **kwargs)
        if self.sqlite:
            _install_pragmas(self.engine)
        else:
            _install_pg_codecs(self.engine)
        _note_directory_writes(self.engine)
        self._write_lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None
        self._writer: asyncio.Task | None = None  # the task inside write(), if any
        # SQLite: writes take turns anyway, so they share one connection, held from the
        # first write on (a pool checkout and return cost more than the statements).
        self._write_conn: AsyncConnection | None = None
        self.directory_writes = 0  # commits that changed a directory table
        self._directory: Directory | None = None

    @property
    def directory(self) -> Directory:
        """Bindings and roles in memory, checked against the file at each lookup."""
        if self._directory is None:
            self._directory = Directory(self.directory_source(), lambda: self.directory_writes)
        return self._directory

    def directory_source(self) -> Path | str:
        """What ``Directory`` reads: the SQLite file, or libpq's form of the URL."""
        if self.sqlite:
            path = db_path(self.url)
            if path is None:
                raise RuntimeError("the directory needs an SQLite database file")
            return path
        return libpq_url(self.url)

    def _queue(self) -> asyncio.Lock:
        # One queue per event loop: a CLI command or a test may run several loops
        # one after the other over the same Database.
        loop = asyncio.get_running_loop()
        if self._write_lock is None or self._lock_loop is not loop:
            self._write_lock, self._lock_loop = asyncio.Lock(), loop
        return self._write_lock

    @property
    def writers_waiting(self) -> int:
        """Writers queued behind the current one (for diagnostics and tests)."""
        lock = self._write_lock
        waiters = getattr(lock, "_waiters", None) if lock is not None else None
        return sum(1 for w in waiters if not w.done()) if waiters else 0

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with AsyncSession(self.engine, expire_on_commit=False) as session:
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A BEGIN IMMEDIATE transaction (PostgreSQL: the write advisory lock), taken
        in turn: commits on success, rolls back on error. Never nest two in one task
        (NestedWriteError)."""
        task = asyncio.current_task()
        if task is not None and self._writer is task:
            raise NestedWriteError(
                "db.write() inside another db.write() of the same task would wait for "
                "itself: pass the open session down instead"
            )
        queue = self._queue()
        try:
            async with asyncio.timeout(self.write_timeout):
                await queue.acquire()
        except TimeoutError:
            raise WriteQueueTimeout(
                f"waited {self.write_timeout:g} s for the write queue "
                f"({self.writers_waiting} writers behind a stuck transaction?)"
            ) from None
        self._writer = task
        touched, lost = True, False
        try:
            session, raw = await self._write_session()
        except BaseException:
            self._writer = None
            queue.release()
            raise
        try:
            if raw is not None:
                # SQLite: BEGIN IMMEDIATE rides along with the transaction's first
                # statement, whoever sends it: the session, or storage.prepared's calls
                # on the connection itself (which leave the session untouched).
                sqlite_driver.begin_with_next(raw, "BEGIN IMMEDIATE")
                info = self._write_conn.sync_connection.info  # type: ignore[union-attr]
                session.info[RAW_WRITE] = (raw, info, self.engine.dialect)
            else:
                conn = await session.connection(execution_options={_IMMEDIATE: True})
                if not self.sqlite:
                    await conn.execute(_TAKE_WRITE_LOCK)
                info = conn.sync_connection.info if conn.sync_connection else {}
            info.pop(_DIRECTORY_WRITE, None)
            try:
                yield session
                touched = raw is None or session.in_transaction()
                if touched:
                    await session.commit()
                else:  # only storage.prepared's calls: no session to end
                    await sqlite_driver.end(raw, commit=True)
            except BaseException:
                touched = raw is None or session.in_transaction()
                try:
                    if touched:
                        await session.rollback()
                    if raw is not None:
                        await sqlite_driver.end(raw, commit=False)
                except Exception:
                    # Not ended on its connection (SQLAlchemy drops a connection whose
                    # statement a cancel interrupted): the connection goes, and the
                    # caller sees what happened first, never this; a cancel that an
                    # error here replaced would leave a stopping task running.
                    log.debug("write transaction not ended on its connection", exc_info=True)
                    lost = True
                raise
            if info.pop(_DIRECTORY_WRITE, False):
                self.directory_writes += 1
            _commits.set(_commits.get() + 1)
        except BaseException:
            held = self._write_conn  # SQLAlchemy invalidates a connection it lost
            if held is not None and (lost or held.invalidated):
                await self._drop_write_connection()
            raise
        finally:
            self._writer = None
            queue.release()
            # The connection's return to the pool (its reset is another hop) happens
            # after the next writer may start: the transaction is already over. A
            # session nothing used has nothing to close.
            if touched:
                await session.close()

    async def _write_session(self) -> tuple[AsyncSession, sqlite_driver.OneHopConnection | None]:
        """The write transaction's session, and on SQLite the held connection's driver."""
        if not self.sqlite:
            return AsyncSession(self.engine, expire_on_commit=False), None
        if self._write_conn is None or self._write_conn.closed:
            self._write_conn = await self.engine.connect()
        raw = self._write_conn.sync_connection.connection.dbapi_connection  # type: ignore[union-attr]
        if not isinstance(raw, sqlite_driver.OneHopConnection):
            raw = None
        return AsyncSession(bind=self._write_conn, expire_on_commit=False), raw

    async def _drop_write_connection(self) -> None:
        conn, self._write_conn = self._write_conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.invalidate()

    async def refresh_statistics(self) -> None:
        """After a bulk change (a roster import): PostgreSQL's planner gets fresh
        statistics at once instead of at autovacuum's next pass (measured: without
        them, /打卡 on a just-imported street of 3,000 units took 2.5 times as long).
        SQLite needs none."""
        if self.sqlite:
            return
        async with self.engine.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await auto.execute(text("ANALYZE"))

    async def dispose(self) -> None:
        if self._directory is not None:
            self._directory.close()
        conn, self._write_conn = self._write_conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()
        await self.engine.dispose()
