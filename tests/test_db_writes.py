"""Writes in one process go through one FIFO queue (storage.db.Database.write)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import text
from sqlmodel import select

from bot.runtime import Runtime
from storage.db import Database, NestedWriteError, WriteQueueTimeout, commits_in_context
from storage.models import Community


async def test_many_concurrent_writers_commit_in_arrival_order(runtime: Runtime) -> None:
    """200 read-then-write transactions at once on one Database: none meets
    "database is locked", and they commit in the order they asked."""
    db = runtime.db
    n = 200
    started: list[int] = []

    async def writer(i: int) -> None:
        started.append(i)
        async with db.write() as s:
            # Read, yield to the loop (as a real handler does between statements), write.
            count = (await s.exec(text("SELECT count(*) FROM community"))).one()[0]
            await asyncio.sleep(0)
            s.add(Community(name=f"社区{i:03d}-{count}"))

    results = await asyncio.gather(*(writer(i) for i in range(n)), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == []
    async with db.read() as s:
        names = (await s.exec(select(Community.name).order_by(Community.id))).all()
    # Commit order (autoincrement id) is arrival order, and each transaction saw
    # exactly the rows committed before it: serialised, none lost.
    assert names == [f"社区{i:03d}-{k}" for k, i in enumerate(started)]


async def test_reads_are_not_queued_behind_a_write(runtime: Runtime) -> None:
    db = runtime.db
    inside = asyncio.Event()
    done = asyncio.Event()

    async def long_write() -> None:
        async with db.write() as s:
            s.add(Community(name="写入中"))
            await s.flush()
            inside.set()
            await done.wait()

    task = asyncio.create_task(long_write())
    await inside.wait()
    async with db.read() as s:  # WAL: sees the last commit, does not wait
        names = (await asyncio.wait_for(s.exec(select(Community.name)), 2)).all()
    assert "写入中" not in names
    assert db.writers_waiting == 0
    done.set()
    await task


async def test_a_nested_write_in_one_task_raises_instead_of_hanging(runtime: Runtime) -> None:
    db = runtime.db
    with pytest.raises(NestedWriteError, match="pass the open session down"):
        async with db.write() as s:
            s.add(Community(name="外层"))
            async with db.write():
                pass
    async with db.read() as s:  # the outer transaction rolled back, the queue is free
        assert (await s.exec(select(Community.name))).all() == []
    async with asyncio.timeout(2):
        async with db.write() as s:
            s.add(Community(name="之后"))


@asynccontextmanager
async def write_held(db: Database) -> AsyncIterator[None]:
    """Inside the block another task holds the write queue (and lets go after it)."""
    inside = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> None:
        async with db.write():
            inside.set()
            await release.wait()

    task = asyncio.create_task(holder())
    try:
        await inside.wait()
        yield
    finally:
        release.set()
        await task


async def test_a_stuck_writer_makes_the_next_one_fail_loudly(runtime: Runtime) -> None:
    db = Database(runtime.settings.db_url, write_timeout=0.2)
    try:
        async with write_held(db):
            with pytest.raises(WriteQueueTimeout, match=r"waited 0\.2 s"):
                async with db.write():
                    pass
    finally:
        await db.dispose()


async def test_a_cancelled_waiter_leaves_the_queue(runtime: Runtime) -> None:
    db = runtime.db

    async def waiter() -> None:
        async with db.write() as s:
            s.add(Community(name="不该写入"))

    async with write_held(db):
        second = asyncio.create_task(waiter())
        await asyncio.sleep(0.01)
        assert db.writers_waiting == 1
        second.cancel()
        with pytest.raises(asyncio.CancelledError):
            await second
    async with asyncio.timeout(2):
        async with db.write() as s:
            s.add(Community(name="之后"))
    async with db.read() as s:
        assert (await s.exec(select(Community.name))).all() == ["之后"]


async def test_commits_are_counted_in_the_task_context(runtime: Runtime) -> None:
    async def run(fail: bool) -> int:
        before = commits_in_context()
        try:
            async with runtime.db.write() as s:
                s.add(Community(name=f"计数{fail}"))
                if fail:
                    raise RuntimeError("boom")
        except RuntimeError:
            pass
        return commits_in_context() - before

    assert await asyncio.create_task(run(False)) == 1
    assert await asyncio.create_task(run(True)) == 0


# A statement long enough on the database thread that a cancel lands while it runs.
_SLOW = text("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
             "WHERE x < 2000000) SELECT count(*) FROM c")


@pytest.mark.parametrize("after_a_write", [False, True])
async def test_a_write_cancelled_mid_statement_ends_cancelled_and_the_next_write_works(
    runtime: Runtime, after_a_write: bool
) -> None:
    """A task cancelled while its statement is on the database thread (a scheduler being
    stopped, a request dropped) ends with CancelledError, not with an error from the
    clean-up that would hide the cancel; nothing of it is committed, and the next
    write on the same Database works."""
    db = runtime.db
    async with db.write() as s:  # the write connection is open before the test starts
        s.add(Community(name="之前"))
    started = asyncio.Event()

    async def stopped_midway() -> None:
        async with db.write() as s:
            if after_a_write:
                s.add(Community(name="取消的"))
                await s.flush()
            started.set()
            await s.exec(_SLOW)

    task = asyncio.create_task(stopped_midway())
    await started.wait()
    await asyncio.sleep(0.05)  # the slow statement is on the database thread now
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 10)
    assert task.cancelled()
    async with db.write() as s:
        s.add(Community(name="之后"))
    async with db.read() as s:
        names = (await s.exec(select(Community.name).where(
            Community.name.in_(["之前", "取消的", "之后"])).order_by(Community.id))).all()
    assert names == ["之前", "之后"]
