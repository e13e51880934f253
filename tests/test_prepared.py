"""storage.prepared: the hot path's statements run by us instead of SQLAlchemy's execute
give the same rows, see their own transaction's deferred writes, commit with it in one
trip, and roll back with it. Runs on SQLite and, in the PostgreSQL lane, through the
session (the fallback)."""

from __future__ import annotations

import sqlite3

import aiosqlite.core
import pytest
from sqlalchemy import bindparam, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from bot.runtime import Runtime
from storage import prepared
from storage.db import Database
from storage.models import ChatGroup, Community, Grid
from tests.conftest import dump_db
from tests.helpers import open_round

_NEW_COMMUNITY = insert(Community)
_COMMUNITY_BY_NAME = select(Community.id, Community.name).where(
    col(Community.name) == bindparam("name"))


async def _communities(db: Database) -> list[str]:
    async with db.read() as s:
        return list((await s.exec(select(Community.name).order_by(col(Community.id))))
                    .scalars().all())


async def test_the_candidates_read_equals_sqlalchemys(street: Runtime) -> None:
    """The /打卡 read, with its typed columns (the deadline a datetime), row for row."""
    from plugins.checkin import service

    runtime = street
    await open_round(runtime, runtime.now())
    stmt = service._CANDIDATES[(False, True)]
    for params in ({"building": 1, "unit": 1}, {"building": 3, "unit": 2},
                   {"building": 99, "unit": 1}):
        async with runtime.db.write() as s:
            ours = await prepared.rows(s, stmt, params)
        async with runtime.db.read() as s:
            conn = await s.connection()
            theirs = [tuple(r) for r in (await conn.execute(stmt, params)).all()]
        assert ours == theirs
        assert ours == [] or all(type(a) is type(b) for a, b in zip(ours[0], theirs[0],
                                                                     strict=True))
    assert ours == [] and theirs == []  # the unknown unit
    async with runtime.db.read() as s:
        conn = await s.connection()
        assert (await conn.execute(stmt, {"building": 1, "unit": 1})).all()  # not vacuous


async def test_a_deferred_write_is_seen_later_in_its_transaction_and_commits_with_it(
    runtime: Runtime,
) -> None:
    async with runtime.db.write() as s:
        await prepared.write_later(s, _NEW_COMMUNITY, {"name": "延后社区"})
        seen = await prepared.rows(s, _COMMUNITY_BY_NAME, {"name": "延后社区"})
        # The session's own statements see it too: it rode along with this one.
        by_orm = (await s.exec(select(Community.name).where(
            col(Community.name) == "延后社区"))).all()
    assert [name for _id, name in seen] == ["延后社区"]
    assert [tuple(r) for r in by_orm] == [("延后社区",)]
    assert "延后社区" in await _communities(runtime.db)


@pytest.mark.sqlite  # trips to a database thread are SQLite's
async def test_only_deferred_writes_commit_in_the_commits_trip(runtime: Runtime) -> None:
    """No session statement at all: the write and the commit are one trip to the
    database thread, and an empty write transaction none."""
    trips = 0
    real = aiosqlite.core.Connection._execute

    async def counted(self, fn, *args, **kwargs):
        nonlocal trips
        trips += 1
        return await real(self, fn, *args, **kwargs)

    async with runtime.db.write():  # the held connection is opened here, once
        pass
    aiosqlite.core.Connection._execute = counted
    try:
        async with runtime.db.write():
            pass
        empty = trips
        async with runtime.db.write() as s:
            await prepared.write_later(s, _NEW_COMMUNITY, {"name": "一趟社区"})
        one = trips - empty
    finally:
        aiosqlite.core.Connection._execute = real
    assert (empty, one) == (0, 1)
    assert "一趟社区" in await _communities(runtime.db)


async def test_an_error_after_a_deferred_write_rolls_it_back(runtime: Runtime) -> None:
    before = dump_db(runtime)
    with pytest.raises(RuntimeError):
        async with runtime.db.write() as s:
            await prepared.write_later(s, _NEW_COMMUNITY, {"name": "回滚社区"})
            raise RuntimeError("the flow gave up")
    assert dump_db(runtime) == before
    # The connection is clean for the next writer.
    async with runtime.db.write() as s:
        await prepared.write_later(s, _NEW_COMMUNITY, {"name": "下一个社区"})
    assert "下一个社区" in await _communities(runtime.db)
    assert "回滚社区" not in await _communities(runtime.db)


async def test_a_failing_deferred_write_fails_the_commit_and_changes_nothing(
    runtime: Runtime,
) -> None:
    async with runtime.db.write() as s:
        s.add(Community(name="已有社区"))
    before = dump_db(runtime)
    with pytest.raises((IntegrityError, sqlite3.IntegrityError)):
        async with runtime.db.write() as s:
            await prepared.write_later(s, _NEW_COMMUNITY, {"name": "半截社区"})
            await prepared.write_later(s, insert(Grid), {"community_id": 987654, "name": "孤儿"})
    assert dump_db(runtime) == before
    async with runtime.db.write() as s:  # and the next transaction starts clean
        await prepared.write_later(s, _NEW_COMMUNITY, {"name": "之后社区"})
    assert "之后社区" in await _communities(runtime.db)


async def test_a_deferred_write_to_a_directory_table_counts_as_one(runtime: Runtime) -> None:
    """The directory's reuse window ends at a commit that changed a binding, however
    the statement was sent."""
    before = runtime.db.directory_writes
    async with runtime.db.write() as s:
        await prepared.write_later(s, insert(ChatGroup), {
            "platform": "qq", "group_id": "880001", "kind": "work", "scope_kind": "all",
            "scope_id": 0})
    assert runtime.db.directory_writes == before + 1
    async with runtime.db.write() as s:
        await prepared.write_later(s, _NEW_COMMUNITY, {"name": "不相干社区"})
    assert runtime.db.directory_writes == before + 1


async def test_a_read_session_runs_prepared_reads_too(runtime: Runtime) -> None:
    async with runtime.db.write() as s:
        s.add(Community(name="读社区"))
    async with runtime.db.read() as s:
        found = await prepared.rows(s, _COMMUNITY_BY_NAME, {"name": "读社区"})
        plain = (await s.exec(text("SELECT 1"))).one()
    assert [name for _id, name in found] == ["读社区"] and tuple(plain) == (1,)
