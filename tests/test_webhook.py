"""The WeCom group-robot channel against a local server that plays the webhook contract."""

from __future__ import annotations

import asyncio
import socket
import time
from collections import deque

import pytest
import uvicorn
from sqlmodel import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.outbox import Pacing
from bot.runtime import Runtime
from storage.models import ChatGroup
from storage.models_outbox import OutboxItem
from tests.onebot import OneBotPeer


class FakeRobot:
    """Answers like the robot: errcode 0, or 45009 past `limit` messages per `window`."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self.accepted: list[tuple[float, str]] = []
        self.refused = 0
        self.recent: deque[float] = deque()

    async def endpoint(self, request: Request) -> JSONResponse:
        if request.query_params.get("key") != "k3y-0123456789":
            return JSONResponse({"errcode": 93000, "errmsg": "invalid webhook url"})
        body = await request.json()
        now = time.monotonic()
        while self.recent and self.recent[0] <= now - self.window:
            self.recent.popleft()
        if len(self.recent) >= self.limit:
            self.refused += 1
            return JSONResponse({"errcode": 45009, "errmsg": "api freq out of limit"})
        self.recent.append(now)
        self.accepted.append((now, body["text"]["content"]))
        return JSONResponse({"errcode": 0, "errmsg": "ok"})


@pytest.fixture
async def robot():
    fake = FakeRobot(limit=20, window=2.0)
    app = Starlette(routes=[Route("/cgi-bin/webhook/send", fake.endpoint, methods=["POST"])])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    fake.url = f"http://127.0.0.1:{port}/cgi-bin/webhook/send?key=k3y-0123456789"
    yield fake
    server.should_exit = True
    await task


async def bind(peer: OneBotPeer, street: Runtime, url: str) -> None:
    street.settings.webhook_hosts = {"127.0.0.1"}
    sent = await peer.ask(10003, f"/绑定推送 幸福社区/1栋 {url}")
    assert "已登记群机器人" in sent.text and "k3y-0123456789" not in sent.text
    assert "k3y-…6789" in sent.text


async def broadcast(peer: OneBotPeer, n: int) -> list[str]:
    pushed: list = []
    for i in range(n):
        preview = await peer.ask_until(10003, f"/广播 范围 幸福社区/1栋 第{i + 1}条通知",
                                       "广播预览", other=pushed)
        number = int(preview.text.split("#", 1)[1].split()[0])
        started = await peer.ask_until(10003, f"/确认 {number}", "已开始", other=pushed)
        assert "已开始发送到 1 个群" in started.text
    return [s.text for s in pushed]


async def drain(peer: OneBotPeer, outbox, limit: float = 20) -> list[str]:
    """Answer the private reports while the webhook queue empties."""
    reports = []
    async with asyncio.timeout(limit):
        while not await outbox.idle():
            try:
                reports.append((await peer.expect_send(timeout=0.2)).text)
            except TimeoutError:
                pass
    return reports


async def test_thirty_messages_respect_twenty_per_window(
    peer: OneBotPeer, street: Runtime, outbox, robot: FakeRobot
) -> None:
    outbox.pacing["webhook"] = Pacing(interval=0.01, jitter=0.0, per_minute=20, window=2.0)
    await bind(peer, street, robot.url)
    reports = await broadcast(peer, 30)
    reports += await drain(peer, outbox)
    while len(reports) < 30:
        reports.append((await peer.expect_send()).text)
    assert robot.refused == 0
    assert sorted(text for _, text in robot.accepted) == sorted(
        f"第{i + 1}条通知" for i in range(30)
    )
    times = [t for t, _ in robot.accepted]
    for i, t in enumerate(times):
        assert len([u for u in times[i:] if u < t + 2.0]) <= 20
    assert times[-1] - times[0] >= 2.0  # the cap, not the interval, set the pace
    assert sum("成功 1" in r for r in reports) == 30  # delivery reported per message
    async with street.db.read() as s:
        items = (await s.exec(select(OutboxItem).where(OutboxItem.target_kind == "webhook"))).all()
        group = (await s.exec(select(ChatGroup).where(ChatGroup.platform == "webhook"))).one()
    assert len(items) == 30 and {i.state for i in items} == {"sent"}
    assert all(i.queue.startswith("webhook:") and "k3y" not in i.queue for i in items)
    assert group.kind == "resident" and group.webhook_url == robot.url


async def test_robot_refusal_is_recorded_failed(
    peer: OneBotPeer, street: Runtime, outbox, robot: FakeRobot
) -> None:
    # Misconfigured pacing (25 per window) against the robot's 20: the extra ones fail
    # visibly instead of vanishing.
    outbox.pacing["webhook"] = Pacing(interval=0.0, jitter=0.0, per_minute=25, window=2.0,
                                      breaker_failures=100)
    await bind(peer, street, robot.url)
    async with street.db.write() as s:
        group = (await s.exec(select(ChatGroup).where(ChatGroup.platform == "webhook"))).one()
        for i in range(25):
            await street.delivery.to_group(group, f"标语{i}", session=s, source=f"slogan:{i}")
    await drain(peer, outbox)
    async with street.db.read() as s:
        items = (await s.exec(select(OutboxItem).where(OutboxItem.target_kind == "webhook"))).all()
    states = [i.state for i in items]
    assert states.count("sent") == len(robot.accepted) == 20
    assert states.count("failed") == robot.refused == 5
    assert all("45009" in i.error for i in items if i.state == "failed")


async def test_bad_webhook_urls_are_refused(peer: OneBotPeer, street: Runtime) -> None:
    from tests.conftest import dump_db

    before = dump_db(street)
    for url in ("http://evil.example/send?key=1", "ftp://qyapi.weixin.qq.com/x?key=1",
                "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"):
        sent = await peer.ask(10003, f"/绑定推送 幸福社区/1栋 {url}")
        assert "群机器人地址不对" in sent.text
    assert dump_db(street) == before
