"""`gridbot run --no-console` as a real process on a loopback port, driven over a real socket."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from tests.helpers import TEST_EPOCH
from tests.onebot import parse_sent
from tests.procs import FRAME_S, START_S, stop_process


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, limit: float = START_S) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"gridbot exited early: {err}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("gridbot did not start listening")


@pytest.fixture
def gridbot_process(tmp_path: Path):
    port = free_port()
    env = os.environ | {
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "GRIDBOT_DB_URL": f"sqlite+aiosqlite:///{tmp_path / 'data' / 'gridbot.db'}",
        "SUPERUSERS": '["qq:12345"]',
        "ONEBOT_ACCESS_TOKEN": "s3cret",
        "GRIDBOT_CLOCK_START": TEST_EPOCH.isoformat(),  # never the host's date or hour
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", "--no-console"],
        cwd=tmp_path, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        wait_listening(port, proc)
        yield port, tmp_path, proc
    finally:
        stop_process(proc)


def event(user_id: int, text: str) -> dict:
    return {
        "time": int(time.time()), "self_id": 4242, "post_type": "message",
        "message_type": "private", "sub_type": "friend", "message_id": 1, "user_id": user_id,
        "message": [{"type": "text", "data": {"text": text}}], "raw_message": text, "font": 0,
        "sender": {"user_id": user_id, "nickname": "运维"},
    }


async def ask(ws, user_id: int, text: str) -> str:
    await ws.send(json.dumps(event(user_id, text)))
    frame = json.loads(await asyncio.wait_for(ws.recv(), FRAME_S))
    await ws.send(json.dumps({"status": "ok", "retcode": 0, "data": {"message_id": 7},
                              "echo": frame["echo"]}))
    return parse_sent(frame["action"], frame["params"]).text


async def test_gridbot_run_answers_help_over_a_real_socket(gridbot_process) -> None:
    port, workdir, proc = gridbot_process
    url = f"ws://127.0.0.1:{port}/onebot/v11/ws"
    headers = {"X-Self-ID": "4242", "Authorization": "Bearer s3cret"}
    async with connect(url, additional_headers=headers) as ws:
        superuser_help = await ask(ws, 12345, "/帮助")
        resident_help = await ask(ws, 777777, "/帮助")
    assert "/任命" in superuser_help and "/绑定群" in superuser_help
    assert "/任命" not in resident_help and "/我的信息" in resident_help
    # The empty database got migrated and the demo street loaded.
    db = workdir / "data" / "gridbot.db"
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT name FROM community").fetchall() == [("幸福社区",)]
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()
    assert proc.poll() is None


async def test_gridbot_run_rejects_a_wrong_access_token(gridbot_process) -> None:
    port, _, _ = gridbot_process
    url = f"ws://127.0.0.1:{port}/onebot/v11/ws"
    with pytest.raises(Exception) as exc:  # the handshake is refused
        async with connect(url, additional_headers={"X-Self-ID": "4242",
                                                    "Authorization": "Bearer wrong"}) as ws:
            await ws.recv()
    assert "403" in str(exc.value) or "401" in str(exc.value)
