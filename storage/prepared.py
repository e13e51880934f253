"""Hot-path statements: a Core statement compiled once, run on SQLite in one trip to
the database thread without SQLAlchemy's per-execute work.

``/打卡`` is the bot's hottest write, and SQLAlchemy's execute (its compile-cache lookup,
the execution context, the result object, a greenlet switch each way) cost more CPU on
the event loop than SQLite spends on the statements. Here a statement is compiled once
per dialect and parameter set; a read returns plain tuples (the columns' own result
conversions applied); a write nobody reads back is deferred into the next trip on the
same connection (the next statement, or the commit), so a report and its commit are one
trip. On other engines, or for a statement that needs SQLAlchemy at execute time
(Python-side defaults, expanding IN), the same calls run through the session.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Executable

from storage import sqlite_driver
from storage.db import RAW_WRITE, note_directory_write


@dataclass(frozen=True)
class _Plan:
    sql: str
    names: tuple[str, ...]
    fixed: dict[str, Any]  # values bound in the statement itself
    binds: tuple[Any, ...]  # per positional parameter: its type's conversion, or None
    results: tuple[Any, ...]  # per selected column: its type's conversion, or None

    def parameters(self, params: dict[str, Any]) -> tuple:
        fixed = self.fixed
        values = [params[n] if n in params else fixed.get(n) for n in self.names]
        return tuple(v if f is None or v is None else f(v) for f, v in zip(self.binds, values,
                                                                           strict=True))

    def rows(self, raw: list[tuple] | None) -> list[tuple]:
        results = self.results
        if not any(results):
            return [tuple(r) for r in raw or ()]
        return [tuple(v if f is None else f(v) for f, v in zip(results, r, strict=True))
                for r in raw or ()]


# Keyed by the statement object (module-level constants) and the parameter names.
_plans: dict[tuple[int, frozenset[str]], tuple[Executable, _Plan | None]] = {}


def _plan_of(stmt: Executable, dialect: Any, keys: frozenset[str]) -> _Plan | None:
    key = (id(stmt), keys)
    found = _plans.get(key)
    if found is not None and found[0] is stmt:
        return found[1]
    dml = getattr(stmt, "is_dml", False)
    compiled = stmt.compile(dialect=dialect, column_keys=sorted(keys) if dml else None)
    plan: _Plan | None = None
    needs_sqlalchemy = (
        bool(compiled.insert_prefetch or compiled.update_prefetch)
        or "POSTCOMPILE" in compiled.string or compiled.positiontup is None
    )
    if not needs_sqlalchemy:
        names = tuple(compiled.positiontup or ())
        binds = {n: compiled.binds[n] for n in names if n in compiled.binds}
        fixed = {n: b.effective_value for n, b in binds.items() if b.value is not None}
        columns = getattr(stmt, "selected_columns", ())
        plan = _Plan(
            sql=compiled.string,
            names=names,
            fixed=fixed,
            binds=tuple(
                binds[n].type.dialect_impl(dialect).bind_processor(dialect) if n in binds
                else None for n in names),
            results=tuple(c.type.dialect_impl(dialect).result_processor(dialect, None)
                          for c in columns),
        )
    _plans[key] = (stmt, plan)
    return plan


def _one_hop(conn: AsyncConnection) -> Any | None:
    """The SQLite driver connection under ``conn``, when it is ours."""
    raw = conn.sync_connection.connection.dbapi_connection if conn.sync_connection else None
    return raw if isinstance(raw, sqlite_driver.OneHopConnection) else None


async def _target(session: Any, stmt: Executable, params: dict[str, Any]):
    """(plan, driver connection, its info) to run ``stmt`` ourselves, or (None, the
    session's connection, None)."""
    held = session.info.get(RAW_WRITE)  # a write transaction on SQLite: (driver, info, dialect)
    if held is not None:
        raw, info, dialect = held
        plan = _plan_of(stmt, dialect, frozenset(params))
        if plan is not None:
            return plan, raw, info
    conn = await session.connection()
    raw = _one_hop(conn)
    plan = _plan_of(stmt, conn.dialect, frozenset(params)) if raw is not None else None
    if plan is None:
        return None, conn, None
    return plan, raw, conn.sync_connection.info


async def rows(session: Any, stmt: Executable, params: dict[str, Any]) -> list[tuple]:
    """A read in ``session``'s transaction, as tuples (with any deferred writes before it)."""
    plan, target, _info = await _target(session, stmt, params)
    if plan is None:
        return [tuple(r) for r in (await target.execute(stmt, params)).all()]
    _description, _count, _last, found = await sqlite_driver.hop(
        target, plan.sql, plan.parameters(params))
    return plan.rows(found)


async def write_later(session: Any, stmt: Executable, params: dict[str, Any]) -> None:
    """A write whose result nobody reads, in ``session``'s transaction: on SQLite it runs
    in the next trip to the database (the next statement or the commit), so its error, if
    any, surfaces there. Later reads in the transaction see it."""
    plan, target, info = await _target(session, stmt, params)
    if plan is None:
        await target.execute(stmt, params)
        return
    note_directory_write(info, plan.sql)
    sqlite_driver.later(target, plan.sql, plan.parameters(params))
