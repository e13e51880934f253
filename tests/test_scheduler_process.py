"""Two real processes on one database: one schedules, the other stands by; the
holder is killed with SIGKILL and the other takes over once the lease expires,
sending what fell due in between once (late) — nothing fires twice."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import select

from bot.scheduler import add_item
from storage.db import Database
from storage.models import ScheduledItem

ROOT = Path(__file__).resolve().parent.parent
TTL_S = 3.0

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
    def __init__(self) -> None:
        self.lines: list[list[str]] = []
        self.changed = asyncio.Event()

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

        return await asyncio.wait_for(_wait(), timeout)


async def test_killed_holder_is_replaced_and_nothing_fires_twice(
    template_db: Path, tmp_path: Path
) -> None:
    path = tmp_path / "gridbot.db"
    shutil.copy(template_db, path)
    url = f"sqlite+aiosqlite:///{path}"
    db = Database(url)
    now = datetime.now(UTC)
    async with db.write() as s:
        await add_item(s, "proc.kind", 1, now + timedelta(seconds=4))
        await add_item(s, "proc.kind", 2, now + timedelta(seconds=6))

    env = os.environ | {"PYTHONPATH": str(ROOT)}
    out = Lines()
    procs = {}
    pumps = []
    for name in ("A", "B"):
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", PROCESS, url, name, cwd=ROOT, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )
        procs[name] = proc
        assert proc.stdout is not None
        pumps.append(asyncio.create_task(out.pump(proc.stdout)))
    try:
        for name in procs:
            await out.wait(lambda w, n=name: w[1:] == [n] and w[0] in ("leader", "standby"), 20)
        roles = {w[1]: w[0] for w in out.lines if w[0] in ("leader", "standby")}
        assert sorted(roles.values()) == ["leader", "standby"]
        holder = next(n for n, r in roles.items() if r == "leader")
        other = next(n for n, r in roles.items() if r == "standby")

        await out.wait(lambda w: w[:3] == ["fired", holder, "1"], 15)
        for _ in range(200):  # the handler has returned and the row is settled
            async with db.read() as s:
                if (await s.get(ScheduledItem, 1)).state == "done":
                    break
            await asyncio.sleep(0.01)
        procs[holder].kill()  # SIGKILL: no release, no goodbye
        await procs[holder].wait()

        await out.wait(lambda w: w == ["took-over", other], TTL_S + 5)
        fired_2 = await out.wait(lambda w: w[:3] == ["fired", other, "2"], 5)
        assert fired_2[3] == "True"  # due while nobody held the lease: sent late, once
        await asyncio.sleep(0.5)
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
