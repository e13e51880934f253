"""Outbox faults over the real OneBot v11 WebSocket: drops, refusals, risk control."""

from __future__ import annotations

import asyncio

from nonebug import App
from sqlmodel import select

from bot.outbox import Pacing
from bot.runtime import Runtime
from storage.models import ChatGroup, Community
from storage.models_outbox import OutboxItem
from tests.conftest import BOT_ID
from tests.onebot import OneBotPeer, parse_sent

FIRST_GROUP = 800001


async def add_resident_groups(rt: Runtime, n: int) -> list[int]:
    async with rt.db.write() as s:
        community = (await s.exec(select(Community))).first()
        for i in range(n):
            s.add(ChatGroup(platform="qq", group_id=str(FIRST_GROUP + i), bot_id=str(BOT_ID),
                            kind="resident", scope_kind="community", scope_id=community.id))
    return [FIRST_GROUP + i for i in range(n)]


async def start_broadcast(peer: OneBotPeer, text: str) -> int:
    preview = await peer.ask(99999, f"/广播 {text}")
    number = int(preview.text.split("#", 1)[1].split()[0])
    started = await peer.ask(99999, f"/确认 {number}")
    assert "已开始发送" in started.text
    return number


async def states(rt: Runtime, number: int) -> dict[str, str]:
    async with rt.db.read() as s:
        rows = (await s.exec(
            select(OutboxItem).where(OutboxItem.source == f"broadcast:{number}")
        )).all()
    return {r.target: r.state for r in rows}


async def test_socket_drop_at_group_50_pauses_and_resumes(
    app: App, street: Runtime, outbox
) -> None:
    groups = await add_resident_groups(street, 200)
    received: list[int] = []
    async with app.test_server() as ctx:
        client = ctx.get_client()
        async with client.websocket_connect(
            "/onebot/v11/ws", headers={"X-Self-ID": str(BOT_ID)}
        ) as ws:
            peer = OneBotPeer(ws, BOT_ID)
            number = await start_broadcast(peer, "请勿聚集")
            while len(received) < 49:
                sent = await peer.expect_send()
                received.append(int(sent.target.split(":")[1]))
            # Group 50's send arrives, and the connection dies before we answer.
            frame = await asyncio.wait_for(ws.receive_json(), 5)
            in_flight = int(frame["params"]["group_id"])
        await asyncio.sleep(3.5)  # the adapter's api_timeout: that call is now unknown
        mid = await states(street, number)
        assert mid[str(in_flight)] == "unknown"
        assert sum(1 for v in mid.values() if v == "pending") == 150
        async with client.websocket_connect(
            "/onebot/v11/ws", headers={"X-Self-ID": str(BOT_ID)}
        ) as ws:
            peer = OneBotPeer(ws, BOT_ID)
            while True:
                sent = await peer.expect_send(timeout=5)
                if sent.target.startswith("private:"):
                    report = sent
                    break
                received.append(int(sent.target.split(":")[1]))
    assert in_flight == groups[49]
    assert len(received) == len(set(received)) == 199
    assert set(received) | {in_flight} == set(groups)
    assert "成功 199" in report.text and "结果不明 1" in report.text
    final = await states(street, number)
    assert list(final.values()).count("sent") == 199


async def test_one_refusing_group_fails_alone(app: App, street: Runtime, outbox) -> None:
    groups = await add_resident_groups(street, 10)
    refused = groups[6]
    async with app.test_server() as ctx:
        async with ctx.get_client().websocket_connect(
            "/onebot/v11/ws", headers={"X-Self-ID": str(BOT_ID)}
        ) as ws:
            peer = OneBotPeer(ws, BOT_ID)
            number = await start_broadcast(peer, "勤洗手")
            seen = []
            while True:
                frame = await asyncio.wait_for(ws.receive_json(), 5)
                sent = parse_sent(frame["action"], frame["params"])
                if sent.target == f"group:{refused}":
                    answer = {"status": "failed", "retcode": 120, "data": None,
                              "message": "group muted"}
                else:
                    answer = {"status": "ok", "retcode": 0, "data": {"message_id": 1}}
                await ws.send_json(answer | {"echo": frame["echo"]})
                if sent.target.startswith("private:"):
                    report = sent
                    break
                seen.append(sent.target)
    assert len(seen) == 10
    final = await states(street, number)
    assert final.pop(str(refused)) == "failed"
    assert set(final.values()) == {"sent"}
    assert "成功 9" in report.text and "失败 1" in report.text


async def test_risk_control_opens_breaker_and_alerts_operators(
    app: App, street: Runtime, outbox
) -> None:
    outbox.pacing["qq"] = Pacing(interval=0.0, jitter=0.0, per_minute=100_000,
                                 breaker_failures=3, breaker_cooldown=600)
    await add_resident_groups(street, 8)
    async with app.test_server() as ctx:
        client = ctx.get_client()
        async with client.websocket_connect(
            "/onebot/v11/ws", headers={"X-Self-ID": str(BOT_ID)}
        ) as ws, client.websocket_connect(
            "/onebot/v11/ws", headers={"X-Self-ID": "8889"}
        ) as ws2:
            peer = OneBotPeer(ws, BOT_ID)
            number = await start_broadcast(peer, "扫码测温")
            for _ in range(3):
                frame = await asyncio.wait_for(ws.receive_json(), 5)
                await ws.send_json({"status": "failed", "retcode": 1200, "data": None,
                                    "message": "risk control", "echo": frame["echo"]})
            # The operator hears about it through the other, healthy account.
            alert_frame = await asyncio.wait_for(ws2.receive_json(), 5)
            await ws2.send_json({"status": "ok", "retcode": 0, "data": {"message_id": 2},
                                 "echo": alert_frame["echo"]})
            alert = parse_sent(alert_frame["action"], alert_frame["params"])
            # And the paused account sends nothing more.
            await OneBotPeer(ws, BOT_ID).no_action(0.5)
    assert alert.target == "private:99999"
    assert "暂停发送" in alert.text and "1200" in alert.text
    final = await states(street, number)
    assert sorted(final.values()).count("failed") == 3
    assert sorted(final.values()).count("pending") == 5
