"""SQLAlchemy's aiosqlite adapter with one thread hop per statement.

aiosqlite runs each call on its connection's thread and hands the result back to
the event loop: SQLAlchemy's adapter makes four such calls per statement (open a
cursor, execute, fetch, close), and a write transaction holds the write queue
across every one of them, each waiting its turn on a busy event loop. Here a
statement is one call that opens, executes, fetches and closes on that thread,
and a transaction's BEGIN rides along with its first statement (``begin_with_next``);
a commit or rollback with no transaction open on the file costs nothing. A /打卡
transaction takes 3 hops instead of 12 (docs/benchmarks.md).

This leans on aiosqlite's ``Connection._execute`` (run a function on the
connection's thread) and ``_conn`` (the sqlite3 connection there); both have been
stable since aiosqlite 0.17, and the pinned range in pyproject.toml guards them.
"""

from __future__ import annotations

import collections
import sqlite3
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

# Set on the aiosqlite connection object (a plain Python object; the adapter's slots
# leave no room): the BEGIN to issue before the next statement, and whether the
# file has a transaction open after the last call.
_BEGIN = "_gridbot_begin"
_OPEN = "_gridbot_open"
# Writes whose results nobody reads (``later``): they ride along with the next
# statement or the commit, in its hop, before it.
_LATER = "_gridbot_later"


def begin_with_next(dbapi_connection: Any, statement: str) -> None:
    """Issue ``statement`` (BEGIN, BEGIN IMMEDIATE) in the same hop as the next one."""
    conn = dbapi_connection._connection
    setattr(conn, _BEGIN, statement)
    setattr(conn, _OPEN, True)  # as SQLAlchemy sees it: a commit or rollback must run


def begin_unless_begun(dbapi_connection: Any, statement: str) -> None:
    """SQLAlchemy's begin on a connection whose transaction may have begun already."""
    conn = dbapi_connection._connection
    if getattr(conn, _BEGIN, None) is None and not getattr(conn, _OPEN, False):
        begin_with_next(dbapi_connection, statement)


def _settle(conn: Any) -> tuple[bool, str | None, list | None]:
    """For a commit or rollback: whether the file has a transaction to end (one whose
    BEGIN never went out has none), and the BEGIN and later writes still to ride along."""
    begin, pending = _take(conn)
    was_open = getattr(conn, _OPEN, True)
    setattr(conn, _OPEN, False)
    return was_open and begin is None, begin, pending


async def end(adapted: Any, commit: bool) -> None:
    """Commit (with the later writes, in one hop) or roll back outside SQLAlchemy."""
    conn = adapted._connection
    is_open, begin, pending = _settle(conn)
    if conn._connection is None and not commit:  # closed: its transaction went with it
        return
    try:
        if commit and pending:
            await conn._execute(_commit, conn._conn, begin, pending)
        elif is_open:
            await conn._execute(conn._conn.commit if commit else conn._conn.rollback)
    except BaseException:
        setattr(conn, _OPEN, True)  # what failed is still open: let the rollback run
        raise


def later(dbapi_connection: Any, operation: str, parameters: Any) -> None:
    """Run ``operation`` in the hop of the next statement or commit on this connection
    (a rollback drops it). Its error surfaces there."""
    conn = dbapi_connection._connection
    pending = getattr(conn, _LATER, None)
    if pending is None:
        pending = []
        setattr(conn, _LATER, pending)
    pending.append((operation, parameters))


def _take(conn: Any) -> tuple[str | None, list | None]:
    """What rides along with the next hop: the pending BEGIN and the later writes."""
    begin, pending = getattr(conn, _BEGIN, None), getattr(conn, _LATER, None)
    setattr(conn, _BEGIN, None)
    setattr(conn, _LATER, None)
    return begin, pending


def _lead(raw: sqlite3.Connection, begin: str | None, pending: list | None) -> None:
    if begin is not None:
        raw.execute(begin)
    for operation, parameters in pending or ():
        raw.execute(operation, parameters)


def _run(raw: sqlite3.Connection, begin: str | None, operation: str, parameters: Any,
         many: bool, pending: list | None = None) -> tuple:
    """On the connection's thread: the pending BEGIN and later writes, then the whole
    statement."""
    _lead(raw, begin, pending)
    cursor = raw.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        rows = cursor.fetchall() if cursor.description else None
        return cursor.description, cursor.rowcount, cursor.lastrowid, rows, raw.in_transaction
    finally:
        cursor.close()


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: Any) -> None:
        # No aiosqlite cursor (opening one is a hop of its own): statements run whole.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description = None
        self._rowcount = -1
        self._lastrowid = None
        self._arraysize = 1

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        return self._lastrowid

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    async def _async_soft_close(self) -> None:
        return None  # nothing stays open between statements

    async def _hop(self, operation: Any, parameters: Any, many: bool) -> None:
        (self._description, self._rowcount, self._lastrowid, rows) = await hop(
            self._adapt_connection, operation, parameters, many)
        self._rows = collections.deque(rows or ())

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        await self._hop(operation, parameters, False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        await self._hop(operation, seq_of_parameters, True)


async def hop(adapted: Any, operation: str, parameters: Any, many: bool = False) -> tuple:
    """One statement on ``adapted`` (a OneHopConnection) in one trip to its thread,
    with what rides along: (description, rowcount, lastrowid, rows)."""
    async with adapted._execute_mutex:
        conn = adapted._connection
        begin, pending = _take(conn)
        try:
            description, rowcount, lastrowid, rows, in_transaction = await conn._execute(
                _run, conn._conn, begin, operation, parameters, many, pending)
        except BaseException:
            setattr(conn, _OPEN, True)  # unknown: let the rollback run
            raise
        setattr(conn, _OPEN, in_transaction or getattr(conn, _OPEN, False))
    return description, rowcount, lastrowid, rows


def _commit(raw: sqlite3.Connection, begin: str | None, pending: list | None) -> None:
    _lead(raw, begin, pending)
    raw.commit()


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneHopCursor

    def commit(self) -> None:
        is_open, begin, pending = _settle(self._connection)
        if pending:  # the later writes, then COMMIT: one hop
            conn = self._connection
            try:
                await_(conn._execute(_commit, conn._conn, begin, pending))
            except Exception as error:
                setattr(conn, _OPEN, True)  # what failed is still open: let the rollback run
                self._handle_exception(error)
        elif is_open:
            super().commit()

    def rollback(self) -> None:
        if _settle(self._connection)[0]:  # later writes never ran: nothing of theirs to undo
            super().rollback()


class OneHopDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *args: Any, **kwargs: Any) -> OneHopConnection:
        connection = super().connect(*args, **kwargs)
        connection.__class__ = OneHopConnection  # same slots: only the cursor differs
        return connection  # type: ignore[return-value]


def dbapi() -> OneHopDBAPI:
    return OneHopDBAPI(aiosqlite, sqlite3)
