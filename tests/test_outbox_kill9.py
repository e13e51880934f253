"""SIGKILL in the middle of a 200-group broadcast, then restart: at most once, none skipped.

Waits are on conditions (the next frame, the final report) with generous
deadlines, so a loaded machine only makes the test slower.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from websockets.asyncio.client import connect

from tests.conftest import DATA
from tests.helpers import TEST_EPOCH
from tests.onebot import parse_sent
from tests.procs import FRAME_S, Gridbot
from tests.test_run_process import free_port

N = 200
FIRST = 900001
BOT = 4242


def prepare(workdir: Path, env: dict[str, str]) -> None:
    for name in ("units.csv", "staff.csv"):
        done = subprocess.run([sys.executable, "-m", "bot.cli", "import", str(DATA / name)],
                              env=env, cwd=workdir, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    conn = sqlite3.connect(workdir / "gridbot.db")
    with conn:
        cid = conn.execute("SELECT id FROM community").fetchone()[0]
        conn.executemany(
            "INSERT INTO chatgroup (platform, group_id, bot_id, kind, scope_kind, scope_id,"
            " bound_by, created_at) VALUES ('qq', ?, ?, 'resident', 'community', ?, 'test',"
            " '2026-11-29 00:00:00')",
            [(str(FIRST + i), str(BOT), cid) for i in range(N)],
        )
    conn.close()


async def recv(ws) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), FRAME_S))


def message(user_id: int, text: str) -> str:
    return json.dumps({
        "time": int(time.time()), "self_id": BOT, "post_type": "message",
        "message_type": "private", "sub_type": "friend", "message_id": 1, "user_id": user_id,
        "message": [{"type": "text", "data": {"text": text}}], "raw_message": text, "font": 0,
        "sender": {"user_id": user_id, "nickname": "工作人员"},
    })


async def answer(ws, frame: dict) -> None:
    await ws.send(json.dumps({"status": "ok", "retcode": 0, "data": {"message_id": 1},
                              "echo": frame["echo"]}))


async def test_kill9_mid_broadcast_then_restart(tmp_path: Path) -> None:
    port = free_port()
    env = os.environ | {
        "HOST": "127.0.0.1", "PORT": str(port),
        "GRIDBOT_DB_URL": f"sqlite+aiosqlite:///{tmp_path / 'gridbot.db'}",
        "SUPERUSERS": '["qq:12345"]', "GRIDBOT_DEMO": "false",
        "GRIDBOT_PACING": json.dumps({"qq": {"interval": 0.002, "jitter": 0.0,
                                             "per_minute": 1_000_000}}),
        "GRIDBOT_QUIET_HOURS": "",
        "GRIDBOT_CLOCK_START": TEST_EPOCH.isoformat(),  # never the host's date or hour
    }
    prepare(tmp_path, env)
    url = f"ws://127.0.0.1:{port}/onebot/v11/ws"
    first_run: list[int] = []
    bot = Gridbot(tmp_path, env, "run1")
    try:
        await bot.listening()
        async with connect(url, additional_headers={"X-Self-ID": str(BOT)}) as ws:
            await ws.send(message(12345, "/广播 戴好口罩，健康你我"))
            frame = await recv(ws)
            await answer(ws, frame)
            preview = parse_sent(frame["action"], frame["params"]).text
            number = int(preview.split("#", 1)[1].split()[0])
            await ws.send(message(12345, f"/确认 {number}"))
            while True:
                frame = await recv(ws)
                sent = parse_sent(frame["action"], frame["params"])
                if not sent.target.startswith("group:"):
                    await answer(ws, frame)
                    continue
                gid = int(sent.target.split(":")[1])
                if len(first_run) == 99:
                    in_flight = gid  # received, never answered: then the power cut
                    bot.kill9()
                    break
                first_run.append(gid)
                await answer(ws, frame)
    finally:
        bot.stop()

    second_run: list[int] = []
    # Restarted a minute later on the bot's clock (never earlier than the first run).
    restarted = (TEST_EPOCH + timedelta(minutes=1)).isoformat()
    bot = Gridbot(tmp_path, env | {"GRIDBOT_CLOCK_START": restarted}, "run2")
    try:
        await bot.listening()
        async with connect(url, additional_headers={"X-Self-ID": str(BOT)}) as ws:
            while True:
                frame = await recv(ws)
                await answer(ws, frame)
                sent = parse_sent(frame["action"], frame["params"])
                if sent.target == "private:12345":
                    report = sent.text
                    break
                second_run.append(int(sent.target.split(":")[1]))
    finally:
        bot.stop()

    everyone = set(range(FIRST, FIRST + N))
    assert len(first_run) + len(second_run) == N - 1
    assert len(set(first_run) | set(second_run)) == N - 1  # nobody twice
    assert in_flight not in first_run and in_flight not in second_run  # never resent
    assert set(first_run) | set(second_run) | {in_flight} == everyone  # nobody skipped
    assert "成功 199" in report and "结果不明 1" in report
    conn = sqlite3.connect(tmp_path / "gridbot.db")
    try:
        rows = dict(conn.execute(
            "SELECT target, state FROM outboxitem WHERE source = ?", (f"broadcast:{number}",)
        ).fetchall())
    finally:
        conn.close()
    assert rows.pop(str(in_flight)) == "unknown"
    assert set(rows.values()) == {"sent"}
