"""A real `gridbot run`'s log file carries no personal data and no secret.

Every declared command is sent, privately and in a bound work group, with a
resident's name, a phone in several written forms, an ID number, a room and a
webhook key in its text; then a 3 MB frame. The log file is searched for each
of them afterwards: zero hits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.helpers import TEST_EPOCH
from tests.procs import FRAME_S, Gridbot

SUPERUSER = 12345
GROUP = 9001
BOT = 4242
SECRET_KEY = "Zk3y0ab1cd2ef3gh4ij5"
PII = [
    "张三丰", "13812345678", "138 1234 5678", "138-1234-5678", "110101199003071234",
    "11010119900307123X", "住302室", SECRET_KEY, "s3cret-token-value",
]
PAYLOAD = (
    "张三丰 电话13812345678 或 138 1234 5678 / 138-1234-5678 身份证110101199003071234 "
    f"11010119900307123X 住302室 https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={SECRET_KEY}"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def message(user_id: int, text: str, group_id: int | None = None) -> dict:
    base = {
        "time": int(time.time()), "self_id": BOT, "post_type": "message", "message_id": 1,
        "user_id": user_id, "message": [{"type": "text", "data": {"text": text}}],
        "raw_message": text, "font": 0,
        "sender": {"user_id": user_id, "nickname": "张三丰", "card": "张三丰 13812345678"},
    }
    if group_id is None:
        return base | {"message_type": "private", "sub_type": "friend"}
    return base | {"message_type": "group", "sub_type": "normal", "group_id": group_id}


class Peer:
    """Answers every action the bot calls, and counts the sends."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.sends: list[dict] = []
        self.changed = asyncio.Event()

    async def pump(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in self.ws:
                frame = json.loads(raw)
                if "echo" not in frame:
                    continue
                self.sends.append(frame)
                self.changed.set()
                await self.ws.send(json.dumps({
                    "status": "ok", "retcode": 0, "data": {"message_id": len(self.sends)},
                    "echo": frame["echo"],
                }))

    async def wait_for(self, predicate, limit: float = FRAME_S) -> None:
        deadline = time.monotonic() + limit
        while not predicate():
            self.changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("the bot did not answer in time")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), left)


def texts(frames: list[dict]) -> list[str]:
    out = []
    for f in frames:
        msg = f.get("params", {}).get("message", [])
        out.append("".join(s["data"].get("text", "") for s in msg if s.get("type") == "text"))
    return out


async def test_log_file_has_no_personal_data_or_secrets(tmp_path: Path) -> None:
    from bot.kit import declared_commands

    port = free_port()
    env = os.environ | {
        "HOST": "127.0.0.1", "PORT": str(port),
        "GRIDBOT_DB_URL": f"sqlite+aiosqlite:///{tmp_path / 'gridbot.db'}",
        "SUPERUSERS": f'["qq:{SUPERUSER}"]', "ONEBOT_ACCESS_TOKEN": "s3cret-token-value",
        "GRIDBOT_CLOCK_START": TEST_EPOCH.isoformat(), "GRIDBOT_QUIET_HOURS": "",
        "LOG_LEVEL": "DEBUG",  # the most talkative the log gets
    }
    bot = Gridbot(tmp_path, env)
    url = f"ws://127.0.0.1:{port}/onebot/v11/ws"
    headers = {"X-Self-ID": str(BOT), "Authorization": "Bearer s3cret-token-value"}
    names = sorted({spec.name for spec in declared_commands()})
    assert len(names) > 30
    try:
        await bot.listening()
        async with connect(url, additional_headers=headers, max_size=None) as ws:
            peer = Peer(ws)
            pump = asyncio.create_task(peer.pump())
            await ws.send(json.dumps(message(SUPERUSER, "/绑定群 幸福社区 工作群", GROUP)))
            await peer.wait_for(lambda: len(peer.sends) >= 1)
            sent = 0
            for name in names:
                for group in (None, GROUP):
                    await ws.send(json.dumps(message(SUPERUSER, f"/{name} {PAYLOAD}", group)))
                    sent += 1
            # Every message has had its turn once each got our log line and a reply.
            await peer.wait_for(lambda: bot.log_text().count("message from qq:") >= sent + 1,
                                limit=120)
            await peer.wait_for(lambda: len(peer.sends) >= sent, limit=120)
            # An oversized frame: refused by the server before it is parsed or logged.
            with contextlib.suppress(ConnectionClosed):
                await ws.send(json.dumps(message(SUPERUSER, "/帮助 " + PAYLOAD * 20_000)))
                await asyncio.wait_for(ws.wait_closed(), FRAME_S)
            pump.cancel()
        # The bot is still there for the next connection.
        async with connect(url, additional_headers=headers) as ws:
            await ws.send(json.dumps(message(SUPERUSER, "/帮助")))
            frame = json.loads(await asyncio.wait_for(ws.recv(), FRAME_S))
            assert "您可以使用的命令" in texts([frame])[0]
    finally:
        bot.stop()
    log = bot.log_text()
    assert "message from qq:12345 in group 9001: /打卡" in log  # our own line is there
    hits = {p: log.count(p) for p in PII if p in log}
    assert hits == {}, hits


def test_console_link_tokens_never_reach_the_log() -> None:
    from bot.inbound import redact

    line = 'GET /console/login/Zk3_-q9AbCdEfGh HTTP/1.1 then /console/download/x-Y_z1 200'
    assert redact(line) == "GET /console/login/*** HTTP/1.1 then /console/download/*** 200"
