"""The database file runs with the production pragmas; writes take the lock up front."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import func, select

from bot.cli import backup
from bot.runtime import Runtime
from storage import migrate
from storage.db import Database, db_path
from storage.models import Community


@pytest.mark.sqlite
async def test_pragmas_on_the_real_file(runtime: Runtime) -> None:
    async with runtime.db.read() as s:
        mode = (await s.exec(text("PRAGMA journal_mode"))).one()[0]
        timeout = (await s.exec(text("PRAGMA busy_timeout"))).one()[0]
        fks = (await s.exec(text("PRAGMA foreign_keys"))).one()[0]
    assert mode == "wal"
    assert timeout >= 5000
    assert fks == 1
    assert db_path(runtime.settings.db_url).is_file()


async def test_foreign_keys_are_enforced(runtime: Runtime) -> None:
    from sqlalchemy.exc import IntegrityError

    from storage.models import Grid

    try:
        async with runtime.db.write() as s:
            s.add(Grid(community_id=12345, name="孤儿网格"))
    except IntegrityError:
        pass
    else:
        raise AssertionError("a grid without its community was accepted")


async def test_concurrent_read_then_write_transactions_serialise(runtime: Runtime) -> None:
    """Two read-then-write transactions: with BEGIN IMMEDIATE the second waits
    for the first instead of failing with SQLITE_BUSY."""
    other = Database(runtime.settings.db_url)
    first_has_lock = asyncio.Event()

    async def first() -> None:
        async with runtime.db.write() as s:
            n = (await s.exec(select(func.count()).select_from(Community))).one()
            s.add(Community(name=f"社区{n}"))
            await s.flush()
            first_has_lock.set()
            await asyncio.sleep(0.3)

    async def second() -> None:
        await first_has_lock.wait()
        async with other.write() as s:
            n = (await s.exec(select(func.count()).select_from(Community))).one()
            s.add(Community(name=f"社区{n}"))

    try:
        await asyncio.gather(first(), second())
    finally:
        await other.dispose()
    async with runtime.db.read() as s:
        names = sorted((await s.exec(select(Community.name))).all())
    assert names == ["社区0", "社区1"]


@pytest.mark.sqlite  # `gridbot backup` is SQLite's online backup; PostgreSQL has pg_dump
async def test_backup_is_private_and_intact(street: Runtime, tmp_path: Path) -> None:
    target = tmp_path / "out" / "backup.db"
    await asyncio.to_thread(backup, street.settings.db_url, target)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    conn = sqlite3.connect(target)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM unit").fetchone()[0] == 7
    finally:
        conn.close()


def test_db_upgrade_and_backup_cli(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    env = os.environ | {"GRIDBOT_DB_URL": url}
    up = subprocess.run([sys.executable, "-m", "bot.cli", "db", "upgrade"], env=env,
                        cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert up.returncode == 0, up.stderr
    assert migrate.current_revision(url) == migrate.head_revision()
    bk = subprocess.run([sys.executable, "-m", "bot.cli", "backup", str(tmp_path / "b.db")],
                        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert bk.returncode == 0, bk.stderr
    conn = sqlite3.connect(tmp_path / "b.db")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()
    assert {"community", "unit", "rolegrant", "chatgroup", "auditlog"} <= tables


def test_the_migrations_build_exactly_the_models_schema(tmp_path: Path) -> None:
    """One truth for the schema: a database migrated to head has every table, column,
    index and constraint the models declare, and nothing else (alembic's own diff)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine
    from sqlmodel import SQLModel

    url = f"sqlite+aiosqlite:///{tmp_path / 'head.db'}"
    migrate.upgrade(url)
    engine = create_engine(f"sqlite:///{tmp_path / 'head.db'}")
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    finally:
        engine.dispose()
    assert diff == []
