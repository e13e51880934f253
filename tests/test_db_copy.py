"""`gridbot db copy`: SQLite to SQLite, SQLite to PostgreSQL and back, refusals, an
interrupted copy (kill -9 midway), verification that catches a difference, the CLI.

PostgreSQL: the server at GRIDBOT_TEST_PG_URL, else a throw-away one (tests.pgserver),
with a fresh database per test.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot import cli
from bot.runtime import Runtime
from bot.settings import Settings
from ground.timeutil import utcnow
from storage import auditchain, dbcopy, migrate
from storage.db import db_path, sync_url
from storage.models import ChatGroup, CommandUse, Invite, Person
from storage.models_events import HealthCheck, Quarantine
from storage.models_publicity import Slogan
from storage.repo import audit
from tests.helpers import TEST_EPOCH, daily_rounds
from tests.pgserver import ENV, server

ROOT = Path(__file__).resolve().parent.parent


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def dump(path: Path) -> list[str]:
    """Every row of every table as ``iterdump`` INSERT lines (as conftest.dump_db), sorted:
    a table keyed by something other than an integer id dumps in insertion order, which
    a copy by primary key does not keep (and PostgreSQL has no such order)."""
    conn = sqlite3.connect(path)
    try:
        return sorted(line for line in conn.iterdump() if line.startswith("INSERT"))
    finally:
        conn.close()


def remove_sqlite(path: Path) -> None:
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        p.unlink(missing_ok=True)


@pytest.fixture
def db_url(template_db: Path, tmp_path: Path) -> str:
    """The runtime's database (conftest's fixture overridden): an SQLite file even when
    the suite runs on PostgreSQL, since it is the street being moved."""
    path = tmp_path / "gridbot.db"
    shutil.copy(template_db, path)
    return sqlite_url(path)


@pytest.fixture
async def source(street: Runtime) -> Path:
    """The test street with some activity: rounds and reports, a quarantine with a
    health check, a slogan added and a seed one deleted, string-keyed rows written out
    of key order (mixed case: orders differ between collations), audit rows."""
    rt = street
    await daily_rounds(rt, TEST_EPOCH - timedelta(days=3))
    async with rt.db.write() as s:
        q = Quarantine(unit_id=1, room="301", name="张三", start_date=date(2026, 11, 20), days=14,
                       end_date=date(2026, 12, 4), created_by="qq:30011")
        s.add(q)
        await s.flush()
        s.add(HealthCheck(quarantine_id=q.id, temp_centi=3750, symptoms="咳嗽", abnormal=True,
                          reported_by="qq:30011"))
        s.add(Slogan(text="自定义标语", created_by="qq:30011"))
        seed = await s.get(Slogan, 1)
        seed.deleted_at, seed.deleted_by = utcnow(), "qq:30011"
        s.add(ChatGroup(platform="qq", group_id="777", kind="work", bound_by="qq:30011"))
        for account in ("qq:b", "qq:B", "qq:a", "wechat:阿"):
            s.add(CommandUse(account=account, command="打卡", uses=3, last_used=utcnow()))
        person = (await s.exec(Person.__table__.select().limit(1))).first()
        for code in ("zz9", "AB1", "ab2"):
            s.add(Invite(code=code, person_id=person.id, role="grid_member", created_by="qq:1",
                         expires_at=utcnow() + timedelta(days=1)))
        await audit(s, "qq:30011", "test_copy", "q=1", subject=("quarantine", q.id))
        await audit(s, "qq:30011", "test_copy", "slogan")
    path = db_path(rt.settings.db_url)
    assert path is not None and path.is_file(), rt.settings.db_url
    return path


# --- PostgreSQL ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_server() -> Iterator[str]:
    url = os.environ.get(ENV)
    if url:
        yield url
        return
    with server() as url:
        yield url


class PgDatabase:
    """A database of its own on the test server; ICU en-US collation where the server
    has it (a district's server sorts text by its locale, not byte by byte)."""

    def __init__(self, server_url: str) -> None:
        self.name = f"copy_{uuid.uuid4().hex[:12]}"
        self.url = make_url(server_url).set(database=self.name).render_as_string(
            hide_password=False)
        self._admin = sync_url(server_url).replace("postgresql+psycopg://", "postgresql://")

    def _run(self, sql: str) -> None:
        with psycopg.connect(self._admin, autocommit=True) as conn:
            conn.execute(sql)

    def create(self) -> None:
        try:
            self._run(f"CREATE DATABASE {self.name} TEMPLATE template0 LOCALE_PROVIDER icu "
                      "ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'")
        except psycopg.Error:
            self._run(f"CREATE DATABASE {self.name}")

    def drop(self) -> None:
        self._run(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")

    def recreate(self) -> None:
        self.drop()
        self.create()


@pytest.fixture
def pg(pg_server: str) -> Iterator[PgDatabase]:
    db = PgDatabase(pg_server)
    db.create()
    yield db
    db.drop()


# --- SQLite to SQLite ---------------------------------------------------------------


async def test_sqlite_to_sqlite_copies_every_row(source: Path, tmp_path: Path) -> None:
    target = tmp_path / "copy" / "gridbot.db"
    report = dbcopy.copy_database(sqlite_url(source), sqlite_url(target), progress=False,
                                  batch=7)  # several batches per table
    assert report.ok, report.mismatched
    assert {c.table for c in report.tables} == {t.name for t in dbcopy.copy_order()}
    assert sum(c.source_rows for c in report.tables) > 100
    assert dump(target) == dump(source)
    # The triggers fired while the directory tables were copied; the row is the source's.
    assert any(line.startswith('INSERT INTO "directoryversion" VALUES(1,')
               and not line.endswith(",0);") for line in dump(target))
    assert dbcopy.copy_interrupted(sqlite_url(target)) is None
    assert auditchain.verify(target).broken is None  # the instants are written back exactly


async def test_source_not_at_head_is_refused(tmp_path: Path) -> None:
    old, target = tmp_path / "old.db", tmp_path / "new.db"
    migrate.upgrade(sqlite_url(old), "0007_merge")
    with pytest.raises(dbcopy.CopyRefused, match="not at the head"):
        dbcopy.copy_database(sqlite_url(old), sqlite_url(target), progress=False)
    assert not target.exists()
    with pytest.raises(dbcopy.CopyRefused, match="no source database"):
        dbcopy.copy_database(sqlite_url(tmp_path / "none.db"), sqlite_url(target))
    with pytest.raises(dbcopy.CopyRefused, match="same database"):
        dbcopy.copy_database(sqlite_url(old), f"sqlite:///{old}")


async def test_non_empty_target_is_refused_and_left_alone(source: Path, tmp_path: Path,
                                                          template_db: Path) -> None:
    target = tmp_path / "busy.db"
    shutil.copy(template_db, target)
    conn = sqlite3.connect(target)
    conn.execute("INSERT INTO community (id, name) VALUES (1, '别的社区')")
    conn.commit()
    conn.close()
    before = dump(target)
    with pytest.raises(dbcopy.CopyRefused, match=r"already holds data \(community\)"):
        dbcopy.copy_database(sqlite_url(source), sqlite_url(target), progress=False)
    assert dump(target) == before
    # A fresh database holds only the migrations' seeds: not data, overwritten by the copy.
    fresh = tmp_path / "fresh.db"
    shutil.copy(template_db, fresh)
    assert dbcopy.copy_database(sqlite_url(source), sqlite_url(fresh), progress=False).ok
    assert dump(fresh) == dump(source)
    # A slogan someone added, or a seed one someone deleted, is data.
    for change in ("INSERT INTO slogan (text, created_by, created_at) "
                   "VALUES ('新标语', 'qq:1', '2026-11-30 02:00:00.000000')",
                   "UPDATE slogan SET deleted_at = '2026-11-30 02:00:00.000000' WHERE id = 3"):
        edited = tmp_path / "edited.db"
        shutil.copy(template_db, edited)
        conn = sqlite3.connect(edited)
        conn.execute(change)
        conn.commit()
        conn.close()
        with pytest.raises(dbcopy.CopyRefused, match=r"already holds data \(slogan\)"):
            dbcopy.copy_database(sqlite_url(source), sqlite_url(edited), progress=False)


# --- interrupted --------------------------------------------------------------------

KILLED_AFTER = """
import os, signal, sys
from storage import dbcopy

def after(table):
    if table == sys.argv[3]:
        os.kill(os.getpid(), signal.SIGKILL)

dbcopy.copy_database(sys.argv[1], sys.argv[2], progress=False, after_table=after)
"""


async def test_copy_killed_midway_leaves_a_refused_target(source: Path, tmp_path: Path) -> None:
    target = tmp_path / "target.db"
    src, dst = sqlite_url(source), sqlite_url(target)
    proc = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", KILLED_AFTER, src, dst, "person"], cwd=ROOT,
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr
    conn = sqlite3.connect(target)
    assert conn.execute("SELECT count(*) FROM person").fetchone()[0] > 0  # midway indeed
    assert conn.execute("SELECT count(*) FROM unit").fetchone()[0] == 0
    conn.close()

    assert dbcopy.copy_interrupted(dst) is not None
    before = dump(target)
    with pytest.raises(dbcopy.CopyRefused) as refused:
        dbcopy.copy_database(src, dst, progress=False)
    message = str(refused.value)
    assert "was interrupted" in message and f"delete the file {target}" in message
    assert dump(target) == before
    with pytest.raises(SystemExit, match="interrupted"):  # nor does the bot run on it
        cli._prepare_db(Settings(gridbot_db_url=dst))

    remove_sqlite(target)
    assert dbcopy.copy_database(src, dst, progress=False).ok
    assert dump(target) == dump(source)
    assert dbcopy.copy_interrupted(dst) is None


# --- verification -------------------------------------------------------------------


async def test_verify_names_the_table_that_differs(source: Path, tmp_path: Path) -> None:
    target = tmp_path / "target.db"
    src, dst = sqlite_url(source), sqlite_url(target)
    assert dbcopy.copy_database(src, dst, progress=False).ok
    assert dbcopy.verify(src, dst).ok
    conn = sqlite3.connect(target)
    conn.execute("UPDATE unit SET households = households + 1 WHERE id = 2")
    conn.commit()
    assert dbcopy.verify(src, dst).mismatched == ["unit"]
    conn.execute("DELETE FROM healthcheck")
    conn.commit()
    conn.close()
    report = dbcopy.verify(src, dst)
    assert report.mismatched == ["unit", "healthcheck"]
    bad = {c.table: c for c in report.tables}["healthcheck"]
    assert (bad.source_rows, bad.target_rows) == (1, 0) and "DIFFERS" in bad.line()

    # A difference found by the copy's own check: the target keeps its mark.
    again = tmp_path / "again.db"

    def corrupt(table: str) -> None:
        if table == "checkinreport":
            c = sqlite3.connect(again)
            c.execute("UPDATE unit SET number = number + 100 WHERE id = 1")
            c.commit()
            c.close()

    report = dbcopy.copy_database(src, sqlite_url(again), progress=False, after_table=corrupt)
    assert report.mismatched == ["unit"]
    assert dbcopy.copy_interrupted(sqlite_url(again)) is not None


# --- PostgreSQL ---------------------------------------------------------------------


async def test_round_trip_through_postgresql(source: Path, tmp_path: Path,
                                             pg: PgDatabase) -> None:
    back = tmp_path / "back.db"
    report = dbcopy.copy_database(sqlite_url(source), pg.url, progress=False, batch=7)
    assert report.ok, report.mismatched
    assert dbcopy.verify(sqlite_url(source), pg.url).ok
    assert dbcopy.copy_database(pg.url, sqlite_url(back), progress=False).ok
    assert dump(back) == dump(source)
    assert auditchain.verify(back).broken is None

    # New rows after the copy get fresh ids: every sequence was moved past the copied ids.
    engine = create_engine(sync_url(pg.url))
    try:
        with engine.begin() as conn:
            top = conn.execute(text("SELECT max(id) FROM person")).scalar()
            new = conn.execute(text("INSERT INTO person (name, created_at) VALUES ('新人', now()) "
                                    "RETURNING id")).scalar()
            assert new == top + 1
            conn.execute(text("INSERT INTO slogan (text, created_by, created_at) "
                              "VALUES ('新标语', 'qq:1', now())"))
            for t in dbcopy.copy_order():
                seq = conn.execute(text("SELECT pg_get_serial_sequence(:t, 'id')"),
                                   {"t": t.name}).scalar() if "id" in t.c else None
                if seq is not None:
                    top = conn.execute(text(f"SELECT coalesce(max(id), 0) FROM {t.name}")).scalar()
                    assert conn.execute(text("SELECT nextval(:s)"), {"s": seq}).scalar() > top
    finally:
        engine.dispose()

    with pytest.raises(dbcopy.CopyRefused, match="already holds data"):
        dbcopy.copy_database(sqlite_url(source), pg.url, progress=False)


async def test_interrupted_copy_into_postgresql(source: Path, pg: PgDatabase) -> None:
    src = sqlite_url(source)

    def fail(table: str) -> None:
        if table == "unit":
            raise KeyboardInterrupt  # as an operator's Ctrl-C between two tables

    with pytest.raises(KeyboardInterrupt):
        dbcopy.copy_database(src, pg.url, progress=False, after_table=fail)
    with pytest.raises(dbcopy.CopyRefused, match="was interrupted") as refused:
        dbcopy.copy_database(src, pg.url, progress=False)
    assert f'DROP DATABASE "{pg.name}"' in str(refused.value)
    pg.recreate()
    assert dbcopy.copy_database(src, pg.url, progress=False).ok


async def test_rejected_value_fails_the_copy_and_marks_the_target(source: Path,
                                                                  pg: PgDatabase) -> None:
    # SQLite keeps a NUL in text; PostgreSQL refuses it.
    with sqlite3.connect(source) as conn:
        conn.execute("INSERT INTO slogan (text, created_by, created_at) "
                     "VALUES ('a' || char(0), 'qq:1', '2026-11-30 02:00:00.000000')")
    with pytest.raises(dbcopy.CopyFailed, match="copying table slogan failed") as failed:
        dbcopy.copy_database(sqlite_url(source), pg.url, progress=False)
    assert "marked as an interrupted copy" in str(failed.value)
    with pytest.raises(dbcopy.CopyRefused, match="was interrupted"):
        dbcopy.copy_database(sqlite_url(source), pg.url, progress=False)


# --- the command line ---------------------------------------------------------------


async def test_cli_db_copy(source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "cli.db"
    monkeypatch.setenv("GRIDBOT_DB_URL", sqlite_url(source))  # --from defaults to it
    assert cli.main(["db", "copy", "--to", sqlite_url(target)]) == 0
    out = capsys.readouterr().out
    assert "copied and verified: " in out
    summary = {line.split()[0]: line for line in out.splitlines()}
    assert set(summary) >= {t.name for t in dbcopy.copy_order()}
    assert "  ok  " in summary["unit"]
    assert dump(target) == dump(source)

    assert cli.main(["db", "copy", "--from", sqlite_url(source),
                     "--to", sqlite_url(target)]) == 2
    assert "refused: " in capsys.readouterr().err

    # The copy's own check fails: exit 1, the table named, the target left marked.
    bad = tmp_path / "bad.db"

    def corrupt(table: str) -> None:
        if table == "unit":
            with sqlite3.connect(bad) as c:
                c.execute("UPDATE unit SET households = 0")

    real = dbcopy.copy_database
    monkeypatch.setattr(dbcopy, "copy_database",
                        lambda *a, **kw: real(*a, **kw, after_table=corrupt))
    assert cli.main(["db", "copy", "--to", sqlite_url(bad)]) == 1
    captured = capsys.readouterr()
    assert "verification FAILED for unit:" in captured.err
    assert f"delete the file {bad}" in captured.err
    assert dbcopy.copy_interrupted(sqlite_url(bad)) is not None
