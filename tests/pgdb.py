"""The suite on PostgreSQL: with ``GRIDBOT_TEST_PG_URL`` set (``make test`` starts a
throw-away server, see tests/pgserver.py), each test's database is a fresh copy of
one migrated template database on that server instead of an SQLite file."""

from __future__ import annotations

import os

from sqlalchemy.engine import make_url

from storage.db import libpq_url

SERVER = os.environ.get("GRIDBOT_TEST_PG_URL", "")


libpq = libpq_url  # ``postgresql+asyncpg://…`` as psycopg connects to it


def database_url(name: str) -> str:
    return make_url(SERVER).set(database=name).render_as_string(hide_password=False)


def _admin(sql: str, server: str = "") -> None:
    import psycopg

    with psycopg.connect(libpq(server or SERVER), autocommit=True) as conn:
        conn.execute(sql)


def fresh(server: str, name: str) -> str:
    """A new, empty database ``name`` on ``server`` (dropped first if it is there)."""
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', server)
    _admin(f'CREATE DATABASE "{name}"', server)
    return make_url(server).set(database=name).render_as_string(hide_password=False)


SEED = "gridbot_seed"
# The schema as the migrations made it: a test that renames a table or adds a
# trigger changes it, and the next reset then starts from a fresh copy.
_SCHEMA = """
SELECT md5(string_agg(x, ',' ORDER BY x)) FROM (
  SELECT table_name || '.' || column_name || ':' || data_type AS x
    FROM information_schema.columns WHERE table_schema IN ('public', 'gridbot_seed')
  UNION ALL SELECT 'trigger ' || tgname FROM pg_trigger WHERE NOT tgisinternal
  UNION ALL SELECT 'function ' || proname FROM pg_proc
    WHERE pronamespace = 'public'::regnamespace) s
"""


_schema = ""  # the template's fingerprint
_seeds: list[tuple[str, str | None]] = []  # seeded tables, with their id sequence if any


def _session_name() -> str:
    return f"gridbot_test_{os.getpid()}"


def template() -> str:
    """This session's database, a copy of one migrated template; ``reset`` empties it
    after each test."""
    import psycopg

    from storage import migrate

    name = f"{_session_name()}_template"
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _admin(f'CREATE DATABASE "{name}"')
    url = database_url(name)
    migrate.upgrade(url)
    # What the migrations seeded (the directory version row, the slogan library) is
    # kept aside in a schema of its own and put back by every reset.
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {SEED}")
        for table in _tables(conn):
            if conn.execute(f'SELECT 1 FROM "{table}" LIMIT 1').fetchone():
                conn.execute(f'CREATE TABLE {SEED}."{table}" AS SELECT * FROM "{table}"')
                has_id = conn.execute(
                    "SELECT 1 FROM information_schema.columns WHERE table_schema = 'public'"
                    " AND table_name = %s AND column_name = 'id'", (table,)).fetchone()
                sequence = conn.execute("SELECT pg_get_serial_sequence(%s, 'id')",
                                        (f'"{table}"',)).fetchone()[0] if has_id else None
                _seeds.append((table, sequence))
        global _schema
        _schema = conn.execute(_SCHEMA).fetchone()[0]
    return _clone()


def _clone() -> str:
    name = _session_name()
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _admin(f'CREATE DATABASE "{name}" TEMPLATE "{name}_template"')
    return database_url(name)


def _tables(conn) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        " AND tablename <> 'alembic_version' ORDER BY tablename")]


def reset(url: str) -> None:
    """Every table as the migrations left it: one TRUNCATE, the seeds put back, each
    id sequence moved past them (far cheaper than a new database per test)."""
    import psycopg

    with psycopg.connect(libpq(url), autocommit=True) as conn:
        # A connection the test left open (a stopped task's session) would hold its
        # locks and stall the TRUNCATE: ended, as DROP DATABASE ... WITH (FORCE) does.
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                     " WHERE datname = current_database() AND pid <> pg_backend_pid()")
        if conn.execute(_SCHEMA).fetchone()[0] != _schema:
            changed = True
        else:
            changed = False
            _empty(conn)
    if changed:
        _clone()


def _empty(conn) -> None:
    with conn.transaction():
        conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in _tables(conn))
                     + " RESTART IDENTITY CASCADE")
        for table, sequence in _seeds:
            conn.execute(f'INSERT INTO "{table}" SELECT * FROM {SEED}."{table}"')
            if sequence is not None:  # past the seeded ids
                conn.execute(f"SELECT setval('{sequence}', max(id)) FROM \"{table}\"")


def dump(url: str, skip: tuple[str, ...]) -> list[str]:
    """Every row of every table but ``skip``, in a stable order (as SQLite's iterdump)."""
    import psycopg

    lines: list[str] = []
    with psycopg.connect(libpq(url)) as conn:
        for table in _tables(conn):
            if table in skip:
                continue
            for row in conn.execute(f'SELECT * FROM "{table}" ORDER BY 1'):
                lines.append(f'INSERT INTO "{table}" VALUES{row!r}')
    return lines


def connect(url: str):
    """A DBAPI connection to a test's database, autocommitting: an SQLite file or
    the PostgreSQL database, for tests that edit rows behind the bot's back."""
    from storage.db import db_path

    path = db_path(url)
    if path is not None:
        import sqlite3

        return sqlite3.connect(path, isolation_level=None)
    import psycopg

    return psycopg.connect(libpq(url), autocommit=True)


def execute(url: str, statement: str, *params) -> list[tuple]:
    """One statement (``?`` placeholders on either engine); the rows it returned."""
    conn = connect(url)
    try:
        if not isinstance(conn, __import__("sqlite3").Connection):
            statement = statement.replace("?", "%s")
        cur = conn.cursor()
        cur.execute(statement, params)
        return cur.fetchall() if cur.description else []
    finally:
        conn.close()
