"""Async SQLite engine with the production pragmas and explicit write transactions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

BUSY_TIMEOUT_MS = 10_000
_IMMEDIATE = "gridbot_immediate"


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
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def sync_url(url: str) -> str:
    """The same database for sync tools (Alembic, backup, import)."""
    u = make_url(url)
    return str(u.set(drivername="sqlite"))


def db_path(url: str) -> Path | None:
    u = make_url(url)
    if not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


class Database:
    """Owns the engine; hands out read sessions and write transactions."""

    def __init__(self, url: str) -> None:
        self.url = url
        path = db_path(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self.engine = create_async_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
        _install_pragmas(self.engine)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with AsyncSession(self.engine, expire_on_commit=False) as session:
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A BEGIN IMMEDIATE transaction: commits on success, rolls back on error."""
        async with AsyncSession(self.engine, expire_on_commit=False) as session:
            await session.connection(execution_options={_IMMEDIATE: True})
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    async def dispose(self) -> None:
        await self.engine.dispose()
