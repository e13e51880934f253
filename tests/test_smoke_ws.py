from __future__ import annotations

from nonebug import App

from tests.onebot import OneBotPeer


async def test_help_over_websocket(app: App, street) -> None:
    async with app.test_server() as ctx:
        client = ctx.get_client()
        async with client.websocket_connect(
            "/onebot/v11/ws", headers={"X-Self-ID": "8888"}
        ) as ws:
            peer = OneBotPeer(ws, 8888)
            sent = await peer.ask(10001, "/帮助")
            assert sent.target == "private:10001"
            assert "/任命" in sent.text
