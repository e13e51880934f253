"""Run the TypeScript test gateway (gateway.mjs) and talk to its control API."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bot.adapters.wechaty import Config
from bot.outbox import Pacing

HERE = Path(__file__).resolve().parent
GATEWAY_SCRIPT = HERE / "gateway.mjs"
READY_RE = re.compile(r"^READY grpc=(\d+) control=(\d+) tls=(on|off)$", re.MULTILINE)

GATEWAY_TOKEN = "gridbot-test-token-7d1c"
BOT_ID = "wxid_gridbot"
BOT_NAME = "网格通"
ROOM_ID = "room1@chatroom"
LEADER_ID = "wxid_leader1"
LEADER_NAME = "张楼长"
RESIDENT_ID = "wxid_resident1"
RESIDENT_ROOM_ALIAS = "3栋2单元李明"
# WeChat clients separate "@name" from the rest with a four-per-em space.
MENTION_SEP = "\u2005"
# The outbox pacing for WeChat sends in these tests: no waiting between sends.
FAST = Pacing(interval=0.0, jitter=0.0, per_minute=100_000)


def ensure_node_modules() -> None:
    """Install the gateway's npm packages from package-lock.json if they are missing.

    Fails (never skips) with the reason: a gateway test that silently does not run proves nothing.
    """
    npm = shutil.which("npm")
    if shutil.which("node") is None or npm is None:
        raise RuntimeError("node and npm are required for the Wechaty gateway tests (Node >= 18)")
    marker = HERE / "node_modules" / ".package-lock.json"
    if marker.exists():
        return
    result = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0 or not marker.exists():
        raise RuntimeError(
            f"`npm ci` in {HERE} failed (exit {result.returncode}); the gateway cannot run.\n"
            f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
        )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class TlsFiles:
    ca_cert: Path
    server_cert: Path
    server_key: Path


class Gateway:
    """One gateway.mjs process: start, wait for READY, kill. Output goes to `log_path`."""

    def __init__(
        self,
        *,
        token: str,
        log_path: Path,
        port: int | None = None,
        tls: TlsFiles | None = None,
        lifetime: int = 120,
    ) -> None:
        self.token = token
        self.port = port or free_port()
        self.tls = tls
        self.lifetime = lifetime
        self.log_path = log_path
        self.control_port: int | None = None
        self.process: asyncio.subprocess.Process | None = None

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return "<no log>"

    async def start(self, timeout: float = 20.0) -> None:
        args = [
            str(GATEWAY_SCRIPT),
            f"--port={self.port}",
            "--control-port=0",
            f"--token={self.token}",
            f"--lifetime={self.lifetime}",
            # Dies with the test run even if teardown never happens.
            "--exit-on-stdin-close",
        ]
        if self.tls is not None:
            args += [
                "--tls=on",
                f"--tls-cert={self.tls.server_cert}",
                f"--tls-key={self.tls.server_key}",
            ]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WECHATY_", "GATEWAY_"))}
        env["WECHATY_LOG"] = "warn"
        node = shutil.which("node")
        assert node is not None
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                node,
                *args,
                cwd=HERE,
                env=env,
                stdin=asyncio.subprocess.PIPE,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = READY_RE.search(self.log_tail(100_000))
            if match and int(match.group(1)) == self.port:
                self.control_port = int(match.group(2))
                return
            if self.process.returncode is not None:
                break
            await asyncio.sleep(0.05)
        await self.kill()
        raise RuntimeError(f"gateway did not become ready:\n{self.log_tail()}")

    async def __aenter__(self) -> Gateway:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.kill()

    async def kill(self) -> None:
        """SIGKILL: the way a crashed gateway disappears (no goodbye on the gRPC stream)."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(process.wait(), 10)
        if process.stdin is not None:
            process.stdin.close()

    def control(self) -> Control:
        assert self.control_port is not None, "gateway not started"
        return Control(self.control_port)


class Control:
    """Client of the gateway's HTTP control API (async: the adapter shares the event loop)."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"

    async def _request(self, method: str, path: str, body: Any = None) -> Any:
        # trust_env=False: a proxy from the environment must never see loopback test traffic.
        async with httpx.AsyncClient(base_url=self.base, trust_env=False, timeout=5) as client:
            response = await client.request(method, path, json=body)
            response.raise_for_status()
            return response.json()

    async def state(self) -> dict[str, Any]:
        return await self._request("GET", "/state")

    async def say_in_room(
        self, speaker: str, text: str, mentions: list[str] | None = None, room: str = ROOM_ID
    ) -> None:
        body = {"from": speaker, "room": room, "text": text, "mentions": mentions or []}
        await self._request("POST", "/say", body)

    async def leader_mentions_bot(self, command: str) -> None:
        """The leader says ``command`` in the room, @-mentioning the bot as WeChat writes
        it (the name, then the mention separator) with the bot's id in the mentions."""
        await self.say_in_room(LEADER_ID, f"@{BOT_NAME}{MENTION_SEP}{command}", [BOT_ID])

    async def say_privately(self, speaker: str, text: str, to: str = BOT_ID) -> None:
        await self._request("POST", "/say", {"from": speaker, "to": to, "text": text})

    async def ask_privately(self, speaker: str, text: str) -> dict[str, Any]:
        """What was sent cleared, ``text`` said privately by ``speaker``: the first
        message the bot then sends to ``speaker``."""
        await self.clear_sent()
        await self.say_privately(speaker, text)
        return await self.wait_sent(lambda m: m["conversationId"] == speaker)

    async def sent(self) -> list[dict[str, Any]]:
        return (await self._request("GET", "/sent"))["messages"]

    async def clear_sent(self) -> None:
        await self._request("POST", "/sent/clear", {})

    async def wait_sent(
        self,
        predicate: Callable[[dict[str, Any]], bool],
        timeout: float = 5.0,
    ) -> dict[str, Any]:
        """The first message the bot sent that matches, waiting for it to arrive."""
        deadline = time.monotonic() + timeout
        while True:
            for message in await self.sent():
                if predicate(message):
                    return message
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"the bot sent nothing matching within {timeout}s; sent: {await self.sent()}"
                )
            await asyncio.sleep(0.05)


def adapter_config(
    gateway: Gateway,
    *,
    token: str | None = None,
    ca_file: Path | None = None,
    server_name: str | None = None,
    reconnect_min: float = 0.1,
    reconnect_max: float = 0.5,
    heartbeat: float = 5,
) -> Config:
    return Config(
        wechaty_endpoint=gateway.endpoint,
        wechaty_token=token or gateway.token,
        wechaty_tls=gateway.tls is not None,
        wechaty_tls_ca_file=ca_file,
        wechaty_tls_server_name=server_name,
        wechaty_reconnect_min_seconds=reconnect_min,
        wechaty_reconnect_max_seconds=reconnect_max,
        wechaty_api_timeout=5,
        wechaty_heartbeat_seconds=heartbeat,
    )


def connect_config(gateway: Gateway, tls_files: TlsFiles) -> Config:
    """The adapter's config for ``gateway``. Over TLS it connects by IP but verifies the
    certificate (the test CA's) as "localhost": exercises the name override."""
    if gateway.tls is None:
        return adapter_config(gateway)
    return adapter_config(gateway, ca_file=tls_files.ca_cert, server_name="localhost")


@contextlib.asynccontextmanager
async def logged_in(adapter: Any, gateway: Gateway, config: Any) -> AsyncIterator[Gateway]:
    """The gateway running and the adapter (started with ``config``) logged in on it,
    with nothing sent yet; the adapter is stopped and the gateway killed after."""
    await gateway.start()
    await adapter.start(config)
    try:
        await wait_until(lambda: BOT_ID in adapter.bots, 10, "the bot to log in")
        await gateway.control().clear_sent()
        yield gateway
    finally:
        await adapter.stop()
        await gateway.kill()


async def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.02)
