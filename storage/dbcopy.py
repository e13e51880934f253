"""`gridbot db copy`: one street's database into another (SQLite to PostgreSQL, back, or
SQLite to SQLite), verified, and never left half-written.

The target is migrated to the head first and must hold no data. Before the first table
the copy commits a mark in the target (the ``gridbot_copy_in_progress`` table, which no
part of the app knows), and drops it only once every table's row count and checksum
agree with the source. A copy that was killed, failed or did not verify leaves the mark,
and a marked database is refused by the next copy (and by ``gridbot run``), so a
target is either empty, complete, or refused.

The source is read in one snapshot (one read transaction), so a bot still writing to it
cannot make the copy inconsistent; the target is written one transaction per table, in
foreign-key order.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    create_engine,
    event,
    func,
    inspect,
    literal,
    not_,
    select,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator, TypeEngine
from sqlmodel import SQLModel
from tqdm import tqdm

import storage.models  # noqa: F401  (registers every table on SQLModel.metadata)
from storage import migrate
from storage.db import BUSY_TIMEOUT_MS, backend, db_path, sync_url

BATCH = 500
MARKER = "gridbot_copy_in_progress"
_marker = Table(
    MARKER, MetaData(),
    Column("started_at", String, nullable=False),
    Column("source", String, nullable=False),
)

SEED_ACTOR = "seed"  # migration 0005's created_by / set_by
# Rows the migrations themselves write into a new database: 0005 seeds the slogan
# library and its rotation times, 0008 the directory version. They alone do not make a
# target "non-empty"; the copy replaces them with the source's rows. The predicate picks
# the seed rows (None: every row is derived state).
SEEDED: dict[str, Callable[[Table], ColumnElement[bool]] | None] = {
    "slogan": lambda t: and_(t.c.created_by == SEED_ACTOR, t.c.deleted_at.is_(None)),
    "slogantime": lambda t: t.c.set_by == SEED_ACTOR,
    "directoryversion": None,
}
# Bumped by triggers on the directory tables (0008): copied after them, or copying those
# would move it on past the source's value.
LAST = ("directoryversion",)


class CopyRefused(Exception):
    """The copy did not start: nothing was written to the target."""


class CopyFailed(Exception):
    """The copy stopped midway: the target keeps its interrupted-copy mark."""


@dataclass(frozen=True)
class TableCheck:
    table: str
    source_rows: int
    target_rows: int
    source_sum: str
    target_sum: str

    @property
    def ok(self) -> bool:
        return self.source_rows == self.target_rows and self.source_sum == self.target_sum

    def line(self) -> str:
        if self.ok:
            return f"{self.table:<18} {self.source_rows:>8} rows  ok  {self.source_sum[:12]}"
        return (f"{self.table:<18} {self.source_rows:>8} rows in source, {self.target_rows} in "
                f"target  DIFFERS ({self.source_sum[:12]} != {self.target_sum[:12]})")


@dataclass(frozen=True)
class CopyReport:
    tables: list[TableCheck]

    @property
    def mismatched(self) -> list[str]:
        return [c.table for c in self.tables if not c.ok]

    @property
    def ok(self) -> bool:
        return not self.mismatched


def copy_order() -> list[Table]:
    """Every app table, parents before children, the trigger-written ones last."""
    tables = list(SQLModel.metadata.sorted_tables)
    return [t for t in tables if t.name not in LAST] + [t for t in tables if t.name in LAST]


def shown(url: str) -> str:
    """A URL for messages: the password hidden."""
    return make_url(url).render_as_string(hide_password=True)


# --- engines -------------------------------------------------------------------------


def _is_sqlite(url: str) -> bool:
    return backend(url) == "sqlite"


def _engine(url: str, *, write: bool = False) -> Engine:
    """A sync engine: psycopg for PostgreSQL (session time zone UTC, so an aware value
    bound to a column without a time zone is not shifted), pysqlite with real
    transactions for SQLite (a read transaction is then one snapshot)."""
    if not _is_sqlite(url):
        return create_engine(sync_url(url), connect_args={"options": "-c TimeZone=UTC"})
    engine = create_engine(sync_url(url), connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        dbapi_conn.isolation_level = None  # the driver's implicit BEGINs off: ours below
        dbapi_conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        dbapi_conn.execute("PRAGMA foreign_keys=ON")

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


@contextmanager
def _engine_for(url: str, *, write: bool = False) -> Iterator[Engine]:
    engine = _engine(url, write=write)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    """One read transaction: every table as of one instant."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ",
                                          postgresql_readonly=True)
        with conn.begin():
            yield conn


def _exists(url: str) -> bool:
    """False for an SQLite file that is not there (opening it would create it)."""
    if not _is_sqlite(url):
        return True
    path = db_path(url)
    return path is not None and path.is_file()


def _same_database(a: str, b: str) -> bool:
    ua, ub = make_url(sync_url(a)), make_url(sync_url(b))
    if ua.get_backend_name() != ub.get_backend_name():
        return False
    if ua.get_backend_name() == "sqlite":
        pa, pb = db_path(a), db_path(b)
        return pa is not None and pb is not None and pa.resolve() == pb.resolve()
    return (ua.host, ua.port or 5432, ua.database) == (ub.host, ub.port or 5432, ub.database)


# --- what a database holds -----------------------------------------------------------


def _marker_row(conn: Connection) -> tuple[str, str] | None:
    if not inspect(conn).has_table(MARKER):
        return None
    row = conn.execute(select(_marker.c.started_at, _marker.c.source)).first()
    return (row[0], row[1]) if row is not None else ("?", "?")


def copy_interrupted(url: str) -> tuple[str, str] | None:
    """(started_at, source) of the copy into ``url`` that did not finish, if one did not."""
    if not _exists(url):
        return None
    with _engine_for(url) as engine, engine.connect() as conn:
        return _marker_row(conn)


def start_over(url: str) -> str:
    """How an operator empties a target again."""
    if _is_sqlite(url):
        return f"delete the file {db_path(url)} (and its -wal and -shm files)"
    name = make_url(url).database
    return f'drop and recreate the database (DROP DATABASE "{name}"; CREATE DATABASE "{name}";)'


def interrupted_message(url: str, mark: tuple[str, str]) -> str:
    started, source = mark
    return (f"{shown(url)}: an earlier `gridbot db copy` into this database was interrupted "
            f"(started {started} from {source}), so what it holds is incomplete. To start "
            f"over, {start_over(url)}, then run the copy again.")


def _data_tables(conn: Connection) -> list[str]:
    """Tables holding a row that is not a migration's seed (whatever revision)."""
    present = set(inspect(conn).get_table_names())
    found: list[str] = []
    for table in SQLModel.metadata.sorted_tables:
        if table.name not in present:
            continue
        stmt = select(literal(1)).select_from(table).limit(1)
        if table.name in SEEDED:
            seed = SEEDED[table.name]
            if seed is None:
                continue
            stmt = stmt.where(not_(seed(table)))
        if conn.execute(stmt).first() is not None:
            found.append(table.name)
    known = {t.name for t in SQLModel.metadata.sorted_tables} | {"alembic_version", MARKER}
    prep = conn.dialect.identifier_preparer
    for name in sorted(present - known):  # a table the app does not know (any more)
        if conn.execute(text(f"SELECT 1 FROM {prep.quote(name)} LIMIT 1")).first() is not None:
            found.append(name)
    return found


def _schema_problems(conn: Connection) -> list[str]:
    """Where the source's tables differ from the models (data the copy would drop)."""
    insp = inspect(conn)
    present = set(insp.get_table_names())
    problems = []
    for table in SQLModel.metadata.sorted_tables:
        if table.name not in present:
            problems.append(f"table {table.name} missing")
            continue
        have = {c["name"] for c in insp.get_columns(table.name)}
        want = {c.name for c in table.columns}
        if have != want:
            extra, missing = sorted(have - want), sorted(want - have)
            problems.append(f"table {table.name}: extra columns {extra}, missing {missing}")
    return problems


# --- checksums -----------------------------------------------------------------------


def _norm(value: Any) -> Any:
    """One form for a value, whichever database it was read from."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is not None:  # aware UTC from PostgreSQL, naive UTC text in SQLite
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(sep=" ", timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float | Decimal):
        return repr(float(value))
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    return str(value)


class _Digest:
    def __init__(self) -> None:
        self.rows = 0
        self._h = hashlib.sha256()

    def add(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.rows += 1
            self._h.update(json.dumps([_norm(v) for v in row], ensure_ascii=False,
                                      separators=(",", ":")).encode("utf-8"))
            self._h.update(b"\n")

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def _base_type(col: Column) -> TypeEngine:
    """The column's type under a decorator (AutoString is a String)."""
    return col.type.impl_instance if isinstance(col.type, TypeDecorator) else col.type


def _ordered(table: Table, dialect: str):
    """Rows by primary key, strings compared bytewise on both sides (SQLite's BINARY is
    PostgreSQL's "C"; the database's own collation may order differently)."""
    keys = []
    for col in table.primary_key.columns:
        bytewise = dialect == "postgresql" and isinstance(_base_type(col), String)
        keys.append(col.collate("C") if bytewise else col)
    return select(table).order_by(*keys)


def _batches(conn: Connection, table: Table, size: int) -> Iterator[list]:
    stmt = _ordered(table, conn.dialect.name).execution_options(yield_per=size)
    yield from conn.execute(stmt).partitions(size)


def _checksum(conn: Connection, table: Table, size: int = BATCH) -> tuple[int, str]:
    digest = _Digest()
    for part in _batches(conn, table, size):
        digest.add(part)
    return digest.rows, digest.hexdigest()


def _check_all(source: Connection, target: Connection) -> list[TableCheck]:
    checks = []
    for table in copy_order():
        s_rows, s_sum = _checksum(source, table)
        t_rows, t_sum = _checksum(target, table)
        checks.append(TableCheck(table.name, s_rows, t_rows, s_sum, t_sum))
    return checks


def verify(source_url: str, target_url: str) -> CopyReport:
    """Row count and checksum of every table, in source and target."""
    with _engine_for(source_url) as src, _engine_for(target_url) as dst, \
            _snapshot(src) as sconn, _snapshot(dst) as tconn:
        return CopyReport(_check_all(sconn, tconn))


# --- the copy ------------------------------------------------------------------------


def _refuse_source(source_url: str) -> None:
    if not _exists(source_url):
        raise CopyRefused(f"no source database at {shown(source_url)}")
    if not migrate.is_up_to_date(source_url):
        raise CopyRefused(
            f"the source {shown(source_url)} is at revision "
            f"{migrate.current_revision(source_url) or 'none'}, not at the head "
            f"{migrate.head_revision()}: upgrade it first (`gridbot db upgrade` with "
            "GRIDBOT_DB_URL set to it), then copy")
    with _engine_for(source_url) as engine, engine.connect() as conn:
        if _marker_row(conn) is not None:
            raise CopyRefused(f"the source {shown(source_url)} is itself the target of a copy "
                              "that did not finish: it is incomplete, copy from the original")
        problems = _schema_problems(conn)
        if problems:
            raise CopyRefused(f"the source {shown(source_url)} does not match this version's "
                              f"tables: {'; '.join(problems)}")
        unknown = [t for t in _data_tables(conn) if t not in SQLModel.metadata.tables]
        if unknown:
            raise CopyRefused(f"the source holds tables this version does not copy: "
                              f"{', '.join(unknown)}")


def _refuse_target(target_url: str) -> None:
    """Refuse a marked or non-empty target; checked before and after migrating it."""
    if not _exists(target_url):
        return
    with _engine_for(target_url) as engine, engine.connect() as conn:
        mark = _marker_row(conn)
        if mark is not None:
            raise CopyRefused(interrupted_message(target_url, mark))
        data = _data_tables(conn)
    if data:
        listed = ", ".join(data[:5]) + (", …" if len(data) > 5 else "")
        raise CopyRefused(f"the target {shown(target_url)} already holds data ({listed}): "
                          "refusing to copy into it. Copy into a new, empty database.")


def _reset_sequence(conn: Connection, table: Table) -> None:
    """After explicit ids, PostgreSQL's sequence must continue past the largest."""
    pk = list(table.primary_key.columns)
    if len(pk) != 1 or not isinstance(_base_type(pk[0]), Integer):
        return
    seq = conn.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                       {"t": table.name, "c": pk[0].name}).scalar()
    if seq is None:
        return
    top = conn.execute(select(func.max(pk[0]))).scalar()
    # An empty table: the next id is 1 again (is_called false).
    conn.execute(text("SELECT setval(:s, :v, :called)"),
                 {"s": seq, "v": top if top is not None else 1, "called": top is not None})


def _copy_table(sconn: Connection, dst: Engine, table: Table, batch: int, bar) -> tuple[int, str]:
    """One transaction in the target; the source rows' count and checksum on the way."""
    digest = _Digest()
    with dst.begin() as tconn:
        if table.name in SEEDED:
            tconn.execute(table.delete())
        for part in _batches(sconn, table, batch):
            tconn.execute(table.insert(), [dict(row._mapping) for row in part])
            digest.add(part)
            bar.update(len(part))
        if tconn.dialect.name == "postgresql":
            _reset_sequence(tconn, table)
    return digest.rows, digest.hexdigest()


def copy_database(
    source_url: str, target_url: str, *, batch: int = BATCH, progress: bool | None = None,
    after_table: Callable[[str], None] | None = None,
) -> CopyReport:
    """Copy every table of ``source_url`` into the empty ``target_url`` and verify it.

    Raises CopyRefused (nothing written) or CopyFailed (the target stays marked). A
    report with mismatches also leaves the mark. ``progress``: the bar on stderr (None:
    only on a terminal). ``after_table`` is called after each table's commit (tests
    interrupt the copy there).
    """
    if _same_database(source_url, target_url):
        raise CopyRefused("the source and the target are the same database")
    _refuse_source(source_url)
    _refuse_target(target_url)
    migrate.upgrade(target_url)
    _refuse_target(target_url)  # what the migrations wrote must all be seeds

    with _engine_for(source_url) as src, _engine_for(target_url, write=True) as dst:
        with dst.begin() as conn:
            _marker.create(conn)
            conn.execute(_marker.insert().values(
                started_at=datetime.now(UTC).isoformat(timespec="seconds"),
                source=shown(source_url)))
        try:
            report = _copy_tables(src, dst, batch, progress, after_table)
        except Exception as err:
            raise CopyFailed(f"{err} The target is marked as an interrupted copy; to start "
                             f"over, {start_over(target_url)}.") from err
        if report.ok:
            with dst.begin() as conn:
                _marker.drop(conn)
            if dst.dialect.name == "postgresql":  # the planner's statistics, at once
                with dst.connect() as conn:
                    conn.execution_options(isolation_level="AUTOCOMMIT").execute(
                        text("ANALYZE"))
    return report


def _copy_tables(src: Engine, dst: Engine, batch: int, progress: bool | None,
                 after_table: Callable[[str], None] | None) -> CopyReport:
    tables = copy_order()
    sums: dict[str, tuple[int, str]] = {}
    with _snapshot(src) as sconn:
        counts = {t.name: sconn.execute(select(func.count()).select_from(t)).scalar_one()
                  for t in tables}
        with tqdm(total=sum(counts.values()), unit="rows", file=sys.stderr, dynamic_ncols=True,
                  disable=None if progress is None else not progress) as bar:
            for table in tables:
                bar.set_description_str(table.name, refresh=False)
                try:
                    sums[table.name] = _copy_table(sconn, dst, table, batch, bar)
                except Exception as err:
                    raise RuntimeError(f"copying table {table.name} failed "
                                       f"({err.__class__.__name__}: {err}).") from err
                if after_table is not None:
                    after_table(table.name)
    checks = []
    with _snapshot(dst) as tconn:
        for table in tables:
            t_rows, t_sum = _checksum(tconn, table)
            s_rows, s_sum = sums[table.name]
            checks.append(TableCheck(table.name, s_rows, t_rows, s_sum, t_sum))
    return CopyReport(checks)
