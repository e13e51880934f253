"""Two real processes on one database: one schedules, the other stands by; the
holder is killed with SIGKILL and the other takes over once the lease expires,
sending what fell due in between once (late) — nothing fires twice.

Every wait is on a condition (a line from a process, a row's state) with a
generous deadline, never a fixed sleep: the test must pass on a loaded 2-core
machine, where starting two interpreters can take many seconds. So nothing is
timed against the start: item 1 is due before the processes exist (the holder
fires it, late, when it starts), and item 2 is armed by the holder far ahead and
only moved to "due now" once the holder is dead — due while nobody holds the
lease, whatever the machine's speed.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import select, update

from bot.scheduler import add_item
from storage.db import Database
from storage.models import ScheduledItem

ROOT = Path(__file__).resolve().parent.parent
TTL_S = 3.0
START_S = 90.0  # two cold interpreters on a loaded machine
STEP_S = 30.0  # anything else a process is waited for

PROCESS = textwrap.dedent(
    f"""
    import asyncio, sys
    from bot.runtime import Runtime
    from bot.scheduler import Scheduler
    from bot.settings import Settings
    from storage.db import Database

    url, name = sys.argv[1], sys.argv[2]

    async def main():
        settings = Settings(gridbot_db_url=url, gridbot_scheduler_lease_ttl={TTL_S},
                            gridbot_scheduler_lease_renew=0.2)
        rt = Runtime(settings, Database(url))

        async def handler(rt, item):
            print("fired", name, item.ref_id, item.late, flush=True)

        sched = Scheduler(rt, {{"proc.kind": handler}})
        leading = (await sched.start()).leader
        print("leader" if leading else "standby", name, flush=True)
        while True:
            await asyncio.sleep(0.05)
            if sched.leader and not leading:
                leading = True
                print("took-over", name, flush=True)

    asyncio.run(main())
    """
)


class Lines:
    def __init__(self, logs: list[Path]) -> None:
        self.lines: list[list[str]] = []
        self.changed = asyncio.Event()
        self.logs = logs  # the processes' stderr, shown when a wait runs out

    async def pump(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.lines.append(line.decode().split())
            self.changed.set()

    async def wait(self, predicate, timeout: float) -> list[str]:
        async def _wait() -> list[str]:
            while True:
                for words in self.lines:
                    if predicate(words):
                        return words
                self.changed.clear()
                await self.changed.wait()

        try:
            return await asyncio.wait_for(_wait(), timeout)
        except TimeoutError:
            errors = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')}"
                               for p in self.logs if p.exists())
            raise AssertionError(
                f"no such line within {timeout}s; lines: {self.lines}\n{errors}"
            ) from None


async def wait_state(db: Database, item_id: int, state: str) -> None:
    deadline = asyncio.get_running_loop().time() + STEP_S
    while True:
        async with db.read() as s:
            item = await s.get(ScheduledItem, item_id)
        if item is not None and item.state == state:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"item {item_id} still {item and item.state}, not {state}")
        await asyncio.sleep(0.02)


async def test_killed_holder_is_replaced_and_nothing_fires_twice(
    template_db: Path, tmp_path: Path
) -> None:
    path = tmp_path / "gridbot.db"
    shutil.copy(template_db, path)
    url = f"sqlite+aiosqlite:///{path}"
    db = Database(url)
    now = datetime.now(UTC)
    async with db.write() as s:
        await add_item(s, "proc.kind", 1, now - timedelta(seconds=1))
        await add_item(s, "proc.kind", 2, now + timedelta(hours=1))

    env = os.environ | {"PYTHONPATH": str(ROOT)}
    out = Lines([tmp_path / f"{name}.err" for name in ("A", "B")])
    procs = {}
    pumps = []
    for name in ("A", "B"):
        with (tmp_path / f"{name}.err").open("w") as err:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", PROCESS, url, name, cwd=ROOT, env=env,
                stdout=asyncio.subprocess.PIPE, stderr=err,
            )
        procs[name] = proc
        assert proc.stdout is not None
        pumps.append(asyncio.create_task(out.pump(proc.stdout)))
    try:
        for name in procs:
            await out.wait(
                lambda w, n=name: w[1:] == [n] and w[0] in ("leader", "standby"), START_S
            )
        roles = {w[1]: w[0] for w in out.lines if w[0] in ("leader", "standby")}
        assert sorted(roles.values()) == ["leader", "standby"]
        holder = next(n for n, r in roles.items() if r == "leader")
        other = next(n for n, r in roles.items() if r == "standby")

        await out.wait(lambda w: w[:3] == ["fired", holder, "1"], STEP_S)
        await wait_state(db, 1, "done")  # the handler has returned and the row is settled
        procs[holder].kill()  # SIGKILL: no release, no goodbye
        await procs[holder].wait()
        # Item 2, armed by the dead holder an hour ahead, falls due now: while the
        # lease is still the dead holder's and nobody may fire it.
        async with db.write() as s:
            await s.exec(
                update(ScheduledItem)
                .where(ScheduledItem.id == 2)
                .values(due_at=datetime.now(UTC) - timedelta(seconds=1))
            )

        await out.wait(lambda w: w == ["took-over", other], TTL_S + STEP_S)
        fired_2 = await out.wait(lambda w: w[:3] == ["fired", other, "2"], STEP_S)
        assert fired_2[3] == "True"  # due while nobody held the lease: sent late, once
        await wait_state(db, 2, "done")
        # Both rows are settled: a claim flips pending to claimed once, so no
        # further firing of either can follow, and every "fired" line is in.
        fired = [w[1:3] for w in out.lines if w[0] == "fired"]
        assert fired == [[holder, "1"], [other, "2"]]
        async with db.read() as s:
            rows = (await s.exec(select(ScheduledItem).order_by(ScheduledItem.id))).all()
        assert [(i.ref_id, i.state, i.attempts) for i in rows] == [(1, "done", 1), (2, "done", 1)]
    finally:
        for proc in procs.values():
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        for pump in pumps:
            pump.cancel()
        await db.dispose()
