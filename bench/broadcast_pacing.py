"""Benchmark: a 1,000-group broadcast through a real `gridbot run` over a real OneBot socket.

Reports (1) the broadcast's wall time against groups x interval, and (2) /打卡
round-trip latency before and while the broadcast runs, in the same run.

    .venv/bin/python bench/broadcast_pacing.py [--groups 1000] [--interval 0.02]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.procs import stop_process  # noqa: E402

BOT = 4242
STAFF = 12345
LEADER = 30011
WORK_GROUP = 700000
FIRST_RESIDENT = 900001


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(workdir: Path, env: dict[str, str], groups: int) -> None:
    roster = workdir / "units.csv"
    lines = ["社区,网格,楼栋,单元,户数,楼长,楼长账号,单元长,单元长账号"]
    lines.append(f"幸福社区,第一网格,1栋,1单元,30,楼长甲,qq:20001,单元长甲,qq:{LEADER}")
    lines += [f"幸福社区,第一网格,{b}栋,1单元,30,,,," for b in range(2, 11)]
    roster.write_text("\n".join(lines), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "bot.cli", "import", str(roster)], env=env,
                          cwd=workdir, capture_output=True, text=True, timeout=120)
    if done.returncode:
        raise SystemExit(done.stderr)
    conn = sqlite3.connect(workdir / "gridbot.db")
    with conn:
        cid = conn.execute("SELECT id FROM community").fetchone()[0]
        rows = [(str(WORK_GROUP), "work", cid)] + [
            (str(FIRST_RESIDENT + i), "resident", cid) for i in range(groups)
        ]
        conn.executemany(
            "INSERT INTO chatgroup (platform, group_id, bot_id, kind, scope_kind, scope_id,"
            f" bound_by, created_at) VALUES ('qq', ?, '{BOT}', ?, 'community', ?, 'bench',"
            " '2026-11-29 00:00:00')",
            rows,
        )
    conn.close()


def spawn(workdir: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bot.cli", "run", "--no-console"],
                            cwd=workdir, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def message(user_id: int, text: str, group_id: int | None = None) -> str:
    event = {
        "time": int(time.time()), "self_id": BOT, "post_type": "message", "message_id": 1,
        "user_id": user_id, "message": [{"type": "text", "data": {"text": text}}],
        "raw_message": text, "font": 0, "sender": {"user_id": user_id, "nickname": "x"},
    }
    if group_id is None:
        event |= {"message_type": "private", "sub_type": "friend"}
    else:
        event |= {"message_type": "group", "sub_type": "normal", "group_id": group_id,
                  "anonymous": None}
    return json.dumps(event)


class Client:
    """Plays the OneBot implementation: answers every action, sorts what arrives."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.replies: asyncio.Queue[tuple[float, dict]] = asyncio.Queue()
        self.resident_sends: list[float] = []

    async def pump(self) -> None:
        async for raw in self.ws:
            frame = json.loads(raw)
            now = time.perf_counter()
            await self.ws.send(json.dumps({"status": "ok", "retcode": 0,
                                           "data": {"message_id": 1}, "echo": frame["echo"]}))
            params = frame["params"]
            gid = params.get("group_id")
            if gid is not None and int(gid) >= FIRST_RESIDENT:
                self.resident_sends.append(now)
            else:
                await self.replies.put((now, frame))

    async def ask(self, user_id: int, text: str, group_id: int | None = None) -> tuple[float, str]:
        start = time.perf_counter()
        await self.ws.send(message(user_id, text, group_id))
        at, frame = await asyncio.wait_for(self.replies.get(), 30)
        segs = frame["params"].get("message", [])
        return at - start, "".join(s["data"].get("text", "") for s in segs if s["type"] == "text")


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


async def measure_checkin(client: Client, n: int) -> list[float]:
    out = []
    for i in range(n):
        latency, text = await client.ask(LEADER, f"/打卡 已排查{10 + i % 5}户", WORK_GROUP)
        if "已排查" not in text:
            raise SystemExit(f"unexpected /打卡 answer: {text}")
        out.append(latency)
    return out


async def run(groups: int, interval: float, samples: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        port = free_port()
        env = os.environ | {
            "HOST": "127.0.0.1", "PORT": str(port), "LOG_LEVEL": "WARNING",
            "GRIDBOT_DB_URL": f"sqlite+aiosqlite:///{workdir / 'gridbot.db'}",
            "SUPERUSERS": f'["qq:{STAFF}"]', "GRIDBOT_DEMO": "false", "GRIDBOT_QUIET_HOURS": "",
            "GRIDBOT_PACING": json.dumps({"qq": {"interval": interval, "jitter": 0.0,
                                                 "per_minute": 1_000_000}}),
            "PYTHONPATH": str(ROOT),
        }
        prepare(workdir, env, groups)
        proc = spawn(workdir, env)
        try:
            for _ in range(300):
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                        break
                except OSError:
                    await asyncio.sleep(0.1)
            url = f"ws://127.0.0.1:{port}/onebot/v11/ws"
            async with connect(url, additional_headers={"X-Self-ID": str(BOT)}) as ws:
                client = Client(ws)
                pump = asyncio.create_task(client.pump())
                _, opened = await client.ask(STAFF, "/排查 发起 基准排查 截止 2天", WORK_GROUP)
                if "#" not in opened:
                    raise SystemExit(f"round not opened: {opened}")
                await measure_checkin(client, 10)  # warm-up
                before = await measure_checkin(client, samples)
                _, preview = await client.ask(STAFF, "/广播 戴好口罩，健康你我")
                number = preview.split("#", 1)[1].split()[0]
                await client.ask(STAFF, f"/确认 {number}")
                await asyncio.sleep(interval * 5)
                during = await measure_checkin(client, samples)
                while len(client.resident_sends) < groups:
                    await asyncio.sleep(0.05)
                pump.cancel()
        finally:
            stop_process(proc)
        sends = client.resident_sends
        wall = sends[-1] - sends[0]
        expected = (groups - 1) * interval
        return {
            "groups": groups, "interval": interval, "wall": wall, "expected": expected,
            "deviation": (wall - expected) / expected,
            "before": before, "during": during,
        }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--groups", type=int, default=1000)
    ap.add_argument("--interval", type=float, default=0.05)
    ap.add_argument("--samples", type=int, default=200)
    args = ap.parse_args()
    r = asyncio.run(run(args.groups, args.interval, args.samples))
    b, d = r["before"], r["during"]
    print("## Broadcast pacing (real `gridbot run`, real OneBot socket)\n")
    print("| groups | interval | wall time | groups x interval | deviation |")
    print("|---|---|---|---|---|")
    print(f"| {r['groups']} | {r['interval'] * 1000:.0f} ms | {r['wall']:.3f} s "
          f"| {r['expected']:.3f} s | {r['deviation'] * 100:+.2f} % |\n")
    print("| /打卡 round trip | p50 | p99 | mean |")
    print("|---|---|---|---|")
    for name, xs in (("idle", b), ("during broadcast", d)):
        print(f"| {name} | {pct(xs, 50) * 1000:.1f} ms | {pct(xs, 99) * 1000:.1f} ms "
              f"| {statistics.mean(xs) * 1000:.1f} ms |")
    print(f"\np50 ratio during/idle: {pct(d, 50) / pct(b, 50):.2f}; "
          f"p99 ratio: {pct(d, 99) / pct(b, 99):.2f}")


if __name__ == "__main__":
    main()
