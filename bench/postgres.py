"""Benchmark: /打卡 on SQLite and on PostgreSQL, with one process and with three.

Three setups, measured in one run, each a street of N units with an open round, each
/打卡 a different unit's first report, over real loopback WebSockets:

* 1 `gridbot run` on SQLite (the default);
* 1 `gridbot run` on PostgreSQL (Debian's server, throw-away, see tests/pgserver.py);
* 3 `gridbot run` on one PostgreSQL database, the leaders spread over 3 bot accounts
  (one per process, each in its own work group).

For each: the sequential p50 (one event in flight) and, with 32 leaders in flight,
throughput and p99. Goals (issue "PostgreSQL for a district"): PostgreSQL's p50 for
one process <= 1.5x SQLite's; three processes >= 2x the throughput of one on
PostgreSQL.

    .venv/bin/python bench/postgres.py [--n 200] [--window 8] [--units 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from pathlib import Path

from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import floor  # noqa: E402  (the floor benchmark's client and statistics)

from tests import loadrig, pgdb, pgserver  # noqa: E402

PROCESSES = 3


def start(work: Path, url: str | None, k: int) -> loadrig.BotProcess:
    workdir = work / f"p{k}"
    workdir.mkdir(exist_ok=True)
    extra = {"GRIDBOT_DATA_DIR": str(workdir / "data"), "LOG_LEVEL": "WARNING"}
    if url is not None:
        extra["GRIDBOT_DB_URL"] = url
    return loadrig.BotProcess(workdir, loadrig.bot_env(work, floor.free_port(), **extra))


async def measure(bots: list[loadrig.BotProcess], n: int, window: float, units: int):
    async with contextlib.AsyncExitStack() as stack:
        clients = []
        for k, bot in enumerate(bots):
            ws = await stack.enter_async_context(connect(
                f"ws://127.0.0.1:{bot.port}/onebot/v11/ws", max_queue=None,
                additional_headers={"X-Self-ID": str(loadrig.BOT + k)}))
            # Each account binds its own work group; the first also opens the round.
            side = loadrig.OnebotSide(ws, loadrig.BOT + k, loadrig.WORK_GROUP + k)
            side.start()
            await side.ask(loadrig.ADMIN, f"/绑定群 {loadrig.COMMUNITY} 工作群", "已将本群登记为")
            if k == 0:
                await side.ask(loadrig.ADMIN, f"/排查 发起 压力测试排查 截止 2天 范围 "
                               f"{loadrig.COMMUNITY}", "已发起排查 #1")
            await side.close()  # the bench's own client reads this socket from here on
            clients.append(floor.Client(ws, loadrig.BOT + k, loadrig.WORK_GROUP + k))
        feed = iter(range(units))

        def texts(k: int):
            for i in feed:
                yield loadrig.LEADER_BASE + i, loadrig.report_text(i)

        await floor.sequential(clients[0], [next(texts(0)) for _ in range(50)])  # warm-up
        seq = await floor.sequential(clients[0], [next(texts(0)) for _ in range(n)])
        lat: list[float] = []
        end = time.perf_counter() + window

        async def worker(j: int) -> None:
            client = clients[j % len(clients)]
            for user, text in texts(j):
                if time.perf_counter() >= end:
                    return
                lat.append(await client.round_trip(user, text))

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(j) for j in range(32)))
        tput = len(lat) / (time.perf_counter() - t0)
        for c in clients:
            await c.close()
    return seq, lat, tput


def run(work: Path, url: str | None, processes: int, n: int, window: float, units: int):
    env = loadrig.bot_env(work, 0, **({"GRIDBOT_DB_URL": url} if url else {}))
    loadrig.import_street(work, env, units)  # (`gridbot import` refreshes the statistics)
    bots = [start(work, url, k) for k in range(processes)]
    try:
        return asyncio.run(measure(bots, n, window, units))
    finally:
        for bot in bots:
            bot.stop()


def main(n: int, window: float, units: int) -> None:
    rows = []
    with pgserver.server() as server:
        for name, backend, processes in (("SQLite, 1 process", "sqlite", 1),
                                          ("PostgreSQL, 1 process", "pg", 1),
                                          (f"PostgreSQL, {PROCESSES} processes", "pg",
                                           PROCESSES)):
            work = Path(tempfile.mkdtemp(prefix="gridbot-pgbench-"))
            url = None if backend == "sqlite" else pgdb.fresh(
                server, f"bench_{processes}")
            print(f"{name}: importing {units} units …", flush=True)
            rows.append((name, *run(work, url, processes, n, window, units)))
    print(f"\n{'setup':<26}{'seq p50':>10}{'seq p99':>10}{'32: /s':>10}{'32: p99':>10}")
    for name, seq, lat, tput in rows:
        print(f"{name:<26}{floor.pct(seq, .5):>8.1f}ms{floor.pct(seq, .99):>8.1f}ms"
              f"{tput:>10.0f}{floor.pct(lat, .99):>8.0f}ms")
    (_, sq_seq, _, _), (_, pg_seq, _, pg_tput), (_, _, _, pg3_tput) = rows
    print(f"\nPostgreSQL p50 {floor.pct(pg_seq, .5) / floor.pct(sq_seq, .5):.2f}x SQLite's "
          f"(goal <= 1.5x); {PROCESSES} processes {pg3_tput / pg_tput:.2f}x the throughput "
          "of one on PostgreSQL (goal >= 2x)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--window", type=float, default=8.0)
    parser.add_argument("--units", type=int, default=3000)
    args = parser.parse_args()
    main(args.n, args.window, args.units)
