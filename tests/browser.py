"""The browser tests' rig: a real `gridbot run --no-console` on a loopback port,
a OneBot v11 peer playing QQ over a real WebSocket, and Debian's chromium driven
by playwright (`executable_path`, never a downloaded browser).

The peer answers every action the bot calls, in the background, the way an
implementation does, so the outbox can deliver while the browser works; the
messages are kept in order for the test to wait on. Every wait is on a
condition with a generous deadline (a loaded 2-core machine); the bot's clock
starts at the test epoch, never the host's date or hour.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from tests.helpers import TEST_EPOCH
from tests.onebot import Sent, parse_sent
from tests.procs import FRAME_S, Gridbot

CHROMIUM = "/usr/bin/chromium"
# DESIGN.md §5: what Debian's chromium needs headless as root, offline.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
UI_S = 15.0  # a figure the page refreshes by itself (it polls every few seconds)

BOT = 4242
TOKEN = "s3cret"
SUPERUSER = 12345
# Tables that change without any roster change: sessions and links, the audit
# chain, command counts, asks, and the scheduling lease renewed every 20 s.
DUMP_SKIP = ("consolesession", "consolelink", "auditlog", "auditcheckpoint", "commanduse",
             "pendingask", "schedulerlease")

_message_ids = itertools.count(1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment(workdir: Path, port: int) -> dict[str, str]:
    return os.environ | {
        "HOST": "127.0.0.1", "PORT": str(port),
        "GRIDBOT_DB_URL": f"sqlite+aiosqlite:///{workdir / 'data' / 'gridbot.db'}",
        "SUPERUSERS": f'["qq:{SUPERUSER}"]', "ONEBOT_ACCESS_TOKEN": TOKEN,
        "GRIDBOT_DEMO": "false", "GRIDBOT_QUIET_HOURS": "",
        "GRIDBOT_PACING": json.dumps(
            {"qq": {"interval": 0.0, "jitter": 0.0, "per_minute": 1_000_000}}),
        "GRIDBOT_CLOCK_START": TEST_EPOCH.isoformat(),  # never the host's date or hour
    }


def cli(workdir: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """`gridbot …` with the bot's environment (blocking: call it before the loop waits)."""
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], env=env, cwd=workdir,
                          capture_output=True, text=True, timeout=120)


def dump_db(path: Path, skip: tuple[str, ...] = DUMP_SKIP) -> list[str]:
    """Every row of every table but ``skip``, as SQL, to compare before/after."""
    conn = sqlite3.connect(path, timeout=10)
    skipped = tuple(f'INSERT INTO "{t}"' for t in skip)
    try:
        return [line for line in conn.iterdump()
                if line.startswith("INSERT") and not line.startswith(skipped)]
    finally:
        conn.close()


class QQ:
    """The OneBot implementation's side of the socket: every action answered,
    every message the bot sends kept in ``sent``."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.actions: list[dict[str, Any]] = []  # every action, as it arrives
        self.sent: list[Sent] = []  # the messages, once answered
        self._changed = asyncio.Condition()
        self._hold: Callable[[dict[str, Any]], bool] | None = None
        self._released = asyncio.Event()
        self._pump = asyncio.create_task(self._answer_all())

    async def _note(self, items: list, item: Any) -> None:
        async with self._changed:
            items.append(item)
            self._changed.notify_all()

    async def _answer_all(self) -> None:
        async for raw in self.ws:
            frame = json.loads(raw)
            if "action" not in frame:
                continue
            action = frame["action"]
            await self._note(self.actions, frame)
            if self._hold is not None and self._hold(frame):
                await self._released.wait()  # the implementation is slow to answer
            data = {"message_id": next(_message_ids)} if action.startswith("send_") else None
            await self.ws.send(json.dumps({"status": "ok", "retcode": 0, "data": data,
                                           "echo": frame.get("echo")}))
            if action in ("send_msg", "send_private_msg", "send_group_msg"):
                await self._note(self.sent, parse_sent(action, frame["params"]))

    @contextlib.asynccontextmanager
    async def holding(self, hold: Callable[[dict[str, Any]], bool]) -> AsyncIterator[None]:
        """Within the block, the first action for which ``hold`` holds gets no answer
        (nor does anything after it): the bot's send stays in flight until the block ends."""
        self._hold, self._released = hold, asyncio.Event()
        try:
            yield
        finally:
            self._released.set()
            self._hold = None

    async def close(self) -> None:
        self._pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._pump

    def _event(self, user_id: int, text: str, group_id: int | None) -> dict[str, Any]:
        base = {
            "time": int(time.time()), "self_id": BOT, "post_type": "message",
            "message_id": next(_message_ids), "user_id": user_id, "font": 0,
            "message": [{"type": "text", "data": {"text": text}}], "raw_message": text,
        }
        if group_id is None:
            return base | {"message_type": "private", "sub_type": "friend",
                           "sender": {"user_id": user_id, "nickname": "成员"}}
        return base | {"message_type": "group", "sub_type": "normal", "group_id": group_id,
                       "anonymous": None, "sender": {"user_id": user_id, "nickname": "成员",
                                                     "card": "", "role": "member"}}

    async def say(self, user_id: int, text: str, group_id: int | None = None) -> None:
        if self._pump.done():
            raise AssertionError(f"the socket closed: {self._pump.exception()!r}")
        await self.ws.send(json.dumps(self._event(user_id, text, group_id)))

    async def wait_for(self, done: Callable[[Sent], bool], since: int = 0,
                       limit: float = FRAME_S) -> Sent:
        """The first message from ``sent[since:]`` for which ``done`` holds."""
        return await self._first(self.sent, done, since, limit)

    async def wait_action(self, done: Callable[[dict[str, Any]], bool], since: int = 0,
                          limit: float = FRAME_S) -> dict[str, Any]:
        """The first action frame from ``actions[since:]`` for which ``done`` holds."""
        return await self._first(self.actions, done, since, limit)

    async def _first(self, items: list, done: Callable[[Any], bool], since: int,
                     limit: float) -> Any:
        async with asyncio.timeout(limit), self._changed:
            while True:
                for item in items[since:]:
                    if done(item):
                        return item
                if self._pump.done():
                    raise AssertionError(f"the socket closed: {self._pump.exception()!r}")
                await self._changed.wait()

    async def ask(self, user_id: int, text: str, contains: str = "",
                  group_id: int | None = None) -> Sent:
        """Send a command; the bot's answer in that chat that contains ``contains``."""
        target = f"private:{user_id}" if group_id is None else f"group:{group_id}"
        since = len(self.sent)
        await self.say(user_id, text, group_id)
        try:
            return await self.wait_for(
                lambda s: s.target == target and contains in s.text, since)
        except TimeoutError:
            seen = [(s.target, s.text) for s in self.sent[since:]]
            raise AssertionError(f"no answer with {contains!r} to {text!r}; got {seen}") from None


class Street:
    """One bot process on a fresh database holding tests/data's street, and its QQ peer."""

    def __init__(self, workdir: Path, bot: Gridbot, qq: QQ) -> None:
        self.workdir = workdir
        self.bot = bot
        self.qq = qq
        self.port = bot.port
        self.base = f"http://127.0.0.1:{bot.port}"
        self.db = workdir / "data" / "gridbot.db"

    def link(self, text: str, kind: str) -> str:
        """The console link of ``kind`` (login, download) in a chat message."""
        found = re.search(rf"{re.escape(self.base)}/console/{kind}/[^\s，。）)]+", text)
        assert found, f"no {kind} link to {self.base} in {text!r}"
        return found.group(0)


@contextlib.asynccontextmanager
async def street(workdir: Path, rosters: tuple[Path, ...]) -> AsyncIterator[Street]:
    """Import ``rosters`` through the CLI, start the bot, connect QQ to it."""
    port = free_port()
    env = environment(workdir, port)
    (workdir / "data").mkdir(parents=True, exist_ok=True)
    for roster in rosters:
        done = cli(workdir, env, "import", str(roster))
        assert done.returncode == 0, done.stderr
    bot = Gridbot(workdir, env)
    try:
        await bot.listening()
        url = f"ws://127.0.0.1:{port}/onebot/v11/ws"
        headers = {"X-Self-ID": str(BOT), "Authorization": f"Bearer {TOKEN}"}
        async with connect(url, additional_headers=headers, max_size=None) as ws:
            qq = QQ(ws)
            try:
                yield Street(workdir, bot, qq)
            finally:
                await qq.close()
        assert bot.proc.poll() is None, bot.log_text()
        bot.stop()
        log = bot.log_text()
        assert "Traceback" not in log and "[ERROR]" not in log, log
    finally:
        bot.stop()


def chromium_path() -> str:
    assert Path(CHROMIUM).exists(), f"no {CHROMIUM}: `make chromium` installs Debian's chromium"
    return CHROMIUM


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """Debian's chromium, headless, through playwright; the Browser."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS,
                                           headless=True)
        try:
            yield browser
        finally:
            await browser.close()
