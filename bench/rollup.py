"""Benchmark: the roll-up behind /进度 on a 5,000-unit, 100,000-household street.

Builds a street (5 communities x 10 grids x 50 buildings x 2 units, households
summing to exactly 100,000), opens a round over all of it, reports ~70 % of
the units (10 % of those amended, so history rows exist), then times:

* ``progress``  - what /进度 computes: the total and the three slowest buildings;
* ``rollup:<level>`` - one GROUP BY roll-up per level (building, grid, community);
* ``daily report`` - the 日报 context (totals, per community and grid, missing
  units with their leaders), for reference.

    .venv/bin/python bench/rollup.py [--runs 50]

Goal: progress (the /进度 roll-up) <= 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

COMMUNITIES, GRIDS, BUILDINGS, UNITS = 5, 10, 50, 2  # per parent
HOUSEHOLDS = 100_000
GOAL_MS = 50.0


def households(n: int, total: int, rng: random.Random) -> list[int]:
    """n positive counts around total/n that sum to exactly total."""
    counts = [rng.randint(10, 30) for _ in range(n)]
    while (diff := total - sum(counts)) != 0:
        step = 1 if diff > 0 else -1
        for i in rng.sample(range(n), min(abs(diff), n)):
            if counts[i] + step >= 1:
                counts[i] += step
    return counts


def build_street(path: Path, rng: random.Random) -> int:
    """Bulk-load the roster with plain sqlite3 (setup speed is not what we measure)."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.000000")
    conn = sqlite3.connect(path)
    units_total = COMMUNITIES * GRIDS * BUILDINGS * UNITS
    hh = iter(households(units_total, HOUSEHOLDS, rng))
    with conn:
        person = 0
        for c in range(1, COMMUNITIES + 1):
            cid = conn.execute("INSERT INTO community (name) VALUES (?)", (f"社区{c}",)).lastrowid
            for g in range(1, GRIDS + 1):
                gid = conn.execute(
                    "INSERT INTO grid (community_id, name) VALUES (?, ?)", (cid, f"第{g}网格")
                ).lastrowid
                for b in range(1, BUILDINGS + 1):
                    number = (g - 1) * BUILDINGS + b
                    bid = conn.execute(
                        "INSERT INTO building (community_id, grid_id, number) VALUES (?, ?, ?)",
                        (cid, gid, number),
                    ).lastrowid
                    person += 1
                    _leader(conn, person, f"楼长{person}", "楼长", "building", bid, now)
                    for u in range(1, UNITS + 1):
                        uid = conn.execute(
                            "INSERT INTO unit (building_id, number, households) VALUES (?, ?, ?)",
                            (bid, u, next(hh)),
                        ).lastrowid
                        person += 1
                        _leader(conn, person, f"单元长{person}", "单元长", "unit", uid, now)
    conn.close()
    return units_total


def _leader(conn, pid: int, name: str, role: str, kind: str, scope_id: int, now: str) -> None:
    conn.execute("INSERT INTO person (id, name, created_at) VALUES (?, ?, ?)", (pid, name, now))
    conn.execute(
        "INSERT INTO account (id, person_id, bound_at) VALUES (?, ?, ?)",
        (f"qq:{100000 + pid}", pid, now),
    )
    conn.execute(
        "INSERT INTO rolegrant (person_id, role, scope_kind, scope_id, granted_by, created_at)"
        " VALUES (?, ?, ?, ?, 'bench', ?)",
        (pid, role, kind, scope_id, now),
    )


def add_reports(path: Path, round_id: int, rng: random.Random) -> tuple[int, int]:
    conn = sqlite3.connect(path)
    units = conn.execute(
        "SELECT unit_id, households FROM checkinroundunit WHERE round_id = ?", (round_id,)
    ).fetchall()
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.000000")
    reported = rng.sample(units, int(len(units) * 0.7))
    rows = []
    for unit_id, hh in reported:
        if rng.random() < 0.1:  # an earlier, amended report
            rows.append((round_id, unit_id, hh // 2, 0, 0, 0, 0))
        rows.append((round_id, unit_id, rng.randint(hh // 2, hh), rng.randint(0, 2),
                     rng.randint(0, 1), int(rng.random() < 0.02), 1))
    with conn:
        conn.executemany(
            "INSERT INTO checkinreport (round_id, unit_id, reporter, households, returned,"
            " isolated, abnormal, note, reported_at, is_current)"
            f" VALUES (?, ?, 'bench', ?, ?, ?, ?, '', '{now}', ?)",
            [(r, u, h, ret, iso, ab, cur) for r, u, h, ret, iso, ab, cur in rows],
        )
    conn.close()
    return len(reported), len(rows)


def init_nonebot() -> None:
    # plugins.checkin registers its commands on import, so NoneBot comes first.
    import nonebot

    nonebot.init(driver="~none", log_level="WARNING")


async def timed(fn, runs: int) -> list[float]:
    await fn()  # warm the statement cache and SQLite's page cache
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


async def run(runs: int) -> tuple[list[tuple[str, list[float]]], dict[str, int]]:
    from plugins.checkin import notify, service, tally
    from storage import migrate
    from storage.db import Database
    from storage.models import CheckinRound
    from storage.repo import ALL

    rng = random.Random(20261129)
    path = Path(tempfile.mkdtemp(prefix="gridbot-rollup-")) / "gridbot.db"
    url = f"sqlite+aiosqlite:///{path}"
    migrate.upgrade(url)
    units = build_street(path, rng)
    db = Database(url)
    now = datetime.now(UTC)
    started = time.perf_counter()
    async with db.write() as s:
        opened = await service.open_round(
            s, actor="bench", title="全街道排查", scope=ALL,
            deadline=now + timedelta(days=2), now=now,
        )
    open_ms = (time.perf_counter() - started) * 1000
    round_id = opened.round.id
    reported, report_rows = add_reports(path, round_id, rng)

    async with db.read() as s:
        rnd = await s.get(CheckinRound, round_id)
    results: list[tuple[str, list[float]]] = [("open round (snapshot)", [open_ms])]

    async def progress():
        async with db.read() as s:
            return await notify.progress_context(s, rnd, now)

    results.append(("progress (/进度)", await timed(progress, runs)))
    for level in ("building", "grid", "community"):
        async def one(level=level):
            async with db.read() as s:
                return await tally.rollup(s, round_id, level)

        results.append((f"rollup:{level}", await timed(one, runs)))

    async def daily():
        async with db.read() as s:
            return await notify.summary_context(s, rnd, now, "request")

    results.append(("daily report (日报)", await timed(daily, max(5, runs // 5))))
    async with db.read() as s:
        t = await tally.total(s, round_id)
    await db.dispose()
    assert t.units == units and t.registered == HOUSEHOLDS and t.reported == reported
    return results, {"units": units, "households": t.registered, "reported": reported,
                     "report_rows": report_rows}


def table(results, facts) -> str:
    lines = [
        f"{facts['units']} units, {facts['households']} households, {facts['reported']} units "
        f"reported ({facts['report_rows']} report rows incl. amendments)",
        "",
        "| operation | runs | p50 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, s in results:
        ordered = sorted(s)
        p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
        lines.append(f"| {name} | {len(s)} | {statistics.median(s):.1f} | {p99:.1f} | "
                     f"{max(s):.1f} |")
    progress = dict(results)["progress (/进度)"]
    verdict = "met" if max(progress) <= GOAL_MS else "NOT met"
    lines += ["", f"Goal /进度 roll-up <= {GOAL_MS:.0f} ms (every run): **{verdict}**."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    init_nonebot()
    results, facts = asyncio.run(run(args.runs))
    print(table(results, facts))


if __name__ == "__main__":
    main()
