"""Benchmark: memory and answers of a real `gridbot run` fed 5x what it can process.

A real `gridbot run --no-console` process, a street of 2,200 units imported with
`gridbot import`, an open round; the benchmark plays the OneBot implementation over
a real WebSocket (tests/loadrig.py), answering every action at once.

1. Capacity: 200 /打卡 kept 8 in flight (closed loop, nothing refused) give the
   rate R the bot confirms check-ins at.
2. Overload: 2,000 /打卡 from 2,000 other unit leaders sent at 5 x R (open loop).
   Every one must be answered: confirmed (then in the database) or "busy" (then
   not). VmRSS is sampled every 50 ms from /proc/PID/status; VmHWM is the peak.

    .venv/bin/python bench/intake_overload.py [--events 2000] [--factor 5] [--hogs 0] [--keep]
    .venv/bin/python bench/intake_overload.py --max-seconds 150 \\
        --env GRIDBOT_INTAKE_MAX_INFLIGHT=100000 --env GRIDBOT_INTAKE_MAX_WAITING=100000 \\
        --env GRIDBOT_INTAKE_MAX_WAIT=100000     # what-if: no bounded intake (as before)

Goal: peak RSS <= 250 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from messages.render import Renderer  # noqa: E402
from tests import loadrig  # noqa: E402  (the shared real-process harness)
from tests.test_run_process import free_port  # noqa: E402

GOAL_MB = 250
CAPACITY_N = 200
CAPACITY_CONCURRENCY = 8
CONFIRMED = "已记入 #1"


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


async def capacity(side, first: int) -> float:
    """Check-ins confirmed per second with a few in flight and nothing refused."""
    todo = list(range(first, first + CAPACITY_N))
    started = time.monotonic()

    async def worker() -> None:
        while todo:
            i = todo.pop(0)
            sent = await side.ask_user(loadrig.LEADER_BASE + i, loadrig.report_text(i), timeout=60)
            if CONFIRMED not in sent.text:
                raise SystemExit(f"capacity phase: unexpected answer {sent.text!r}")

    await asyncio.gather(*(worker() for _ in range(CAPACITY_CONCURRENCY)))
    return CAPACITY_N / (time.monotonic() - started)


async def run(args: argparse.Namespace) -> dict:
    units = CAPACITY_N + args.events
    workdir = Path(tempfile.mkdtemp(prefix="gridbot-overload-"))
    extra = dict(kv.split("=", 1) for kv in args.env)
    env = loadrig.bot_env(workdir, free_port(), **extra)
    t = time.monotonic()
    loadrig.import_street(workdir, env, units)
    import_s = time.monotonic() - t
    busy = Renderer().render("common/busy", command="打卡")
    bot = loadrig.BotProcess(workdir, env)
    samples: list[tuple[float, int]] = []
    out: dict = {"units": units, "import_s": import_s, "env": extra, "hogs": args.hogs}
    try:
        async with loadrig.onebot(bot) as side:
            await loadrig.prepare_round(side)
            out["rss_idle_kb"] = bot.status()["VmRSS"]
            with loadrig.crowded(bot, args.hogs, seconds=args.max_seconds):
                rate = await capacity(side, 0)
                out["capacity_per_s"] = rate
                out["rss_after_capacity_kb"] = bot.status()["VmRSS"]

                async def sample() -> None:
                    while True:
                        samples.append((time.monotonic(), bot.status()["VmRSS"]))
                        await asyncio.sleep(0.05)

                sampler = asyncio.create_task(sample())
                send_rate = args.factor * rate
                out["send_rate_per_s"] = send_rate
                leaders = [loadrig.LEADER_BASE + i for i in range(CAPACITY_N, units)]
                sent_at: dict[int, float] = {}
                cpu_before = bot.cpu_seconds()
                started = time.monotonic()
                for k, user in enumerate(leaders):
                    delay = started + k / send_rate - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    text = loadrig.report_text(user - loadrig.LEADER_BASE)
                    sent_at[user] = await side.send(user, text)
                out["send_s"] = time.monotonic() - started
                try:
                    await side.until_answered(leaders, timeout=args.max_seconds)
                    out["timed_out"] = False
                except TimeoutError:  # reported below as unanswered
                    out["timed_out"] = True
                out["last_answer_s"] = time.monotonic() - started
                out["cpu_ms_per_event"] = (bot.cpu_seconds() - cpu_before) * 1000 / len(leaders)
                sampler.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sampler
                status = bot.status()
                out["rss_end_kb"], out["hwm_kb"] = status["VmRSS"], status["VmHWM"]
    finally:
        bot.stop()

    confirmed, refused, other, lat_ok, lat_busy = set(), set(), {}, [], []
    unanswered = 0
    for user in leaders:
        answers = side.answers.get(user, [])
        if not answers:
            unanswered += 1
            continue
        first = answers[0]
        latency = first.at - sent_at[user]
        if len(answers) == 1 and CONFIRMED in first.sent.text:
            confirmed.add(user)
            lat_ok.append(latency)
        elif len(answers) == 1 and first.sent.text == busy:
            refused.add(user)
            lat_busy.append(latency)
        else:
            other[user] = [a.sent.text for a in answers]
    rows = {
        r for r in loadrig.reporters(workdir)
        if int(r.split(":")[1]) - loadrig.LEADER_BASE >= CAPACITY_N
    }
    log = bot.log()
    out["busy_messages"] = sum(1 for a in side.everything if a.sent.text == busy)
    out.update(
        confirmed=len(confirmed), busy=len(refused), other=len(other), unanswered=unanswered,
        rows=len(rows), rows_match=rows == {f"qq:{u}" for u in confirmed},
        locked=log.count("database is locked"),
        tracebacks=log.count("Traceback") + log.count('File "'),
        errors=log.count("ERROR"),
        lat_ok=(pct(lat_ok, 0.5), pct(lat_ok, 0.99), max(lat_ok, default=0.0)),
        lat_busy=(pct(lat_busy, 0.5), pct(lat_busy, 0.99), max(lat_busy, default=0.0)),
        rss_peak_sampled_kb=max((kb for _, kb in samples), default=0),
        workdir=str(workdir),
    )
    return out


def report(r: dict, events: int, factor: float) -> str:
    mb = lambda kb: kb / 1024  # noqa: E731
    lines = [
        f"{r['units']} units (import {r['import_s']:.1f} s), CPU hogs on the bot's CPU: "
        f"{r['hogs']}, extra env: {r['env'] or 'none'}",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| capacity (/打卡 confirmed per s, {CAPACITY_CONCURRENCY} in flight) | "
        f"{r['capacity_per_s']:.1f} |",
        f"| send rate ({factor:g} x capacity) | {r['send_rate_per_s']:.1f} /s |",
        f"| {events} events sent in | {r['send_s']:.1f} s |",
        f"| last answer after | {r['last_answer_s']:.1f} s"
        f"{' (gave up waiting)' if r['timed_out'] else ''} |",
        f"| bot CPU per event (overload phase) | {r['cpu_ms_per_event']:.2f} ms |",
        f"| confirmed / busy / other / unanswered | {r['confirmed']} / {r['busy']} / "
        f"{r['other']} / {r['unanswered']} |",
        f"| busy answers sent as (group messages) | {r['busy_messages']} |",
        f"| report rows = confirmed | {r['rows']} ({'match' if r['rows_match'] else 'MISMATCH'}) |",
        f"| confirmed latency p50 / p99 / max | {r['lat_ok'][0]:.2f} / {r['lat_ok'][1]:.2f} / "
        f"{r['lat_ok'][2]:.2f} s |",
        f"| busy latency p50 / p99 / max | {r['lat_busy'][0]:.2f} / {r['lat_busy'][1]:.2f} / "
        f"{r['lat_busy'][2]:.2f} s |",
        f"| RSS idle (round open) | {mb(r['rss_idle_kb']):.0f} MB |",
        f"| RSS after the capacity phase | {mb(r['rss_after_capacity_kb']):.0f} MB |",
        f"| RSS peak, sampled every 50 ms | {mb(r['rss_peak_sampled_kb']):.0f} MB |",
        f"| **VmHWM (peak RSS)** | **{mb(r['hwm_kb']):.0f} MB** |",
        f"| RSS at the end | {mb(r['rss_end_kb']):.0f} MB |",
        f"| log: database is locked / Traceback / ERROR | {r['locked']} / {r['tracebacks']} / "
        f"{r['errors']} |",
        "",
    ]
    ok = (mb(r["hwm_kb"]) <= GOAL_MB and not r["other"] and not r["unanswered"]
          and r["rows_match"]
          and not (r["locked"] or r["tracebacks"] or r["errors"]))
    lines.append(f"Goal peak RSS <= {GOAL_MB} MB, every event answered, rows = confirmed, "
                 f"clean log: **{'met' if ok else 'NOT met'}**.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--factor", type=float, default=5.0, help="x the measured capacity")
    parser.add_argument("--hogs", type=int, default=0,
                        help="busy loops pinned with the bot to one CPU (0: none)")
    parser.add_argument("--max-seconds", type=float, default=300.0)
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment for the bot (repeatable)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work directory (database, bot log)")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(report(result, args.events, args.factor))
    if not args.keep:
        shutil.rmtree(result["workdir"], ignore_errors=True)


if __name__ == "__main__":
    main()
