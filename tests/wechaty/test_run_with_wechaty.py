"""`gridbot run` starts the WeChat adapter beside OneBot when WECHATY_ENDPOINT is set."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import TEST_EPOCH
from tests.test_run_process import free_port, wait_listening

from .support import GATEWAY_TOKEN, LEADER_ID, Gateway


def spawn(workdir: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", "--no-console"], cwd=workdir, env=env,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )


async def test_gridbot_run_answers_on_wechat(node_modules: None, tmp_path: Path) -> None:
    gateway = Gateway(token=GATEWAY_TOKEN, log_path=tmp_path / "gateway.log")
    await gateway.start()
    port = free_port()
    env = os.environ | {
        "HOST": "127.0.0.1", "PORT": str(port),
        "GRIDBOT_DB_URL": f"sqlite+aiosqlite:///{tmp_path / 'gridbot.db'}",
        "WECHATY_ENDPOINT": gateway.endpoint, "WECHATY_TOKEN": GATEWAY_TOKEN,
        "WECHATY_RECONNECT_MAX_SECONDS": "1",
        "GRIDBOT_CLOCK_START": TEST_EPOCH.isoformat(),  # never the host's date or hour
    }
    proc = spawn(tmp_path, env)
    try:
        wait_listening(port, proc)
        control = gateway.control()
        reply = None
        deadline = time.monotonic() + 40
        while reply is None and time.monotonic() < deadline:
            await control.say_privately(LEADER_ID, "/帮助")
            await asyncio.sleep(1.0)
            replies = [m for m in await control.sent() if m["conversationId"] == LEADER_ID]
            reply = replies[0] if replies else None
        assert reply is not None, gateway.log_tail()
        assert "/我的信息" in reply["text"] and "/绑定" in reply["text"]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        await gateway.kill()
