"""Protocol tests: the Wechaty adapter against the real TypeScript PuppetServer + mock puppet.

The gateway (gateway.mjs) is the production `wechaty-puppet-service` server; only the WeChat
side is mocked. Every message below travels Python -> gRPC -> TypeScript and back.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nonebot
import pytest
import trustme
from nonebot.log import logger
from nonebot.params import CommandArg

from bot.adapters.wechaty import (
    Adapter,
    ApiNotAvailable,
    Config,
    GroupMessageEvent,
    Message,
    MessageEvent,
    MessageSegment,
)
from bot.adapters.wechaty import Bot as WechatyBot
from bot.adapters.wechaty.transport import WechatyPuppet
from bot.runtime import Runtime

from .support import (
    BOT_ID,
    BOT_NAME,
    GATEWAY_TOKEN,
    LEADER_ID,
    LEADER_NAME,
    RESIDENT_ID,
    RESIDENT_ROOM_ALIAS,
    ROOM_ID,
    Control,
    Gateway,
    TlsFiles,
    adapter_config,
    connect_config,
    wait_until,
)


@contextmanager
def captured_logs() -> Iterator[list[dict[str, Any]]]:
    records: list[dict[str, Any]] = []
    handler_id = logger.add(lambda message: records.append(message.record), level="DEBUG")
    try:
        yield records
    finally:
        logger.remove(handler_id)


@asynccontextmanager
async def started_capturing(
    adapter: Adapter, config: Config
) -> AsyncIterator[list[dict[str, Any]]]:
    """The adapter started with ``config`` while its logs are captured (the records);
    stopped at the end, still capturing."""
    with captured_logs() as records:
        await adapter.start(config)
        try:
            yield records
        finally:
            await adapter.stop()


def logged_errors(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r["level"].name == "ERROR"]


@pytest.fixture(scope="module")
def matchers(nonebug_init: None) -> Iterator[None]:
    """Tiny test commands, created after nonebot.init and removed afterwards.

    Typed on the Wechaty Bot/Event so other adapters' tests never trigger them.
    """
    from nonebot import on_command

    ping = on_command("ping", priority=1, block=True)
    echo = on_command("echo", priority=1, block=True)

    @ping.handle()
    async def _ping(bot: WechatyBot, event: MessageEvent) -> None:
        suffix = " to_me" if event.is_tome() else ""
        if isinstance(event, GroupMessageEvent):
            await ping.send(MessageSegment.mention(event.user_id) + f"pong{suffix}")
        else:
            await ping.send(f"pong{suffix}")

    @echo.handle()
    async def _echo(bot: WechatyBot, event: MessageEvent, arg: Message = CommandArg()) -> None:
        await echo.send(arg)

    try:
        yield
    finally:
        ping.destroy()
        echo.destroy()


@dataclass
class Live:
    gateway: Gateway
    control: Control
    adapter: Adapter


@pytest.fixture(params=["plain", "tls"])
async def live(
    request: pytest.FixtureRequest,
    gateway_plain: Gateway,
    gateway_tls: Gateway,
    tls_files: TlsFiles,
    wechaty_adapter: Adapter,
    matchers: None,
    runtime: Runtime,
) -> AsyncIterator[Live]:
    """The adapter connected and logged in, over plaintext h2c or over TLS. (The
    runtime: gridbot's event preprocessor takes every message's intake turn from
    it, so without one this file passed only after another test had installed one.)"""
    gateway = gateway_tls if request.param == "tls" else gateway_plain
    await wechaty_adapter.start(connect_config(gateway, tls_files))
    try:
        await wait_until(lambda: BOT_ID in wechaty_adapter.bots, 10, "the bot to log in")
        control = gateway.control()
        await control.clear_sent()
        yield Live(gateway, control, wechaty_adapter)
    finally:
        await wechaty_adapter.stop()
    assert BOT_ID not in wechaty_adapter.bots
    assert BOT_ID not in nonebot.get_bots()


async def test_room_ping_mentioning_the_bot_is_answered_with_a_mention(live: Live) -> None:
    await live.control.leader_mentions_bot("/ping")

    reply = await live.control.wait_sent(lambda m: m["conversationId"] == ROOM_ID)
    assert reply["roomId"] == ROOM_ID
    assert reply["text"].startswith(f"@{LEADER_NAME}")
    assert reply["text"] == f"@{LEADER_NAME} pong to_me"
    assert LEADER_ID in reply["mentionIds"]


async def test_room_mention_uses_the_members_room_alias(live: Live) -> None:
    await live.control.say_in_room(RESIDENT_ID, f"@{BOT_NAME} /ping", [BOT_ID])

    reply = await live.control.wait_sent(lambda m: m["conversationId"] == ROOM_ID)
    assert reply["text"] == f"@{RESIDENT_ROOM_ALIAS} pong to_me"
    assert reply["mentionIds"] == [RESIDENT_ID]


async def test_private_ping_is_answered_privately(live: Live) -> None:
    await live.control.say_privately(LEADER_ID, "/ping")

    reply = await live.control.wait_sent(lambda m: m["conversationId"] == LEADER_ID)
    assert reply["toId"] == LEADER_ID
    assert reply["roomId"] is None
    assert reply["text"] == "pong to_me"
    assert reply["mentionIds"] == []


async def test_markup_in_user_text_stays_literal(live: Live) -> None:
    text = "[CQ:at,qq=all] 大家好"
    await live.control.leader_mentions_bot(f"/echo {text}")

    reply = await live.control.wait_sent(lambda m: m["conversationId"] == ROOM_ID)
    assert reply["text"] == text
    assert reply["mentionIds"] == []


async def test_system_accounts_and_own_messages_are_ignored(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Record what the adapter hands to NoneBot: the app may filter again (bot.app's
    # preprocessor), but the adapter alone must already drop these.
    delivered: list[MessageEvent] = []
    handle_event = WechatyBot.handle_event

    async def recording(self: WechatyBot, event: MessageEvent) -> None:
        delivered.append(event)
        await handle_event(self, event)

    monkeypatch.setattr(WechatyBot, "handle_event", recording)
    for account in ("weixin", "filehelper", "gh_3a5f1b2c9d7e"):
        await live.control.say_privately(account, "/ping")
    # Each echo makes the bot say "/ping", which the gateway streams back as a message from the
    # bot itself; answering its own command would start a loop.
    await live.control.say_privately(LEADER_ID, "/echo /ping")
    await live.control.say_in_room(LEADER_ID, "/echo /ping")
    # A room command without a mention is still a command, just not "to me".
    await live.control.say_in_room(LEADER_ID, "/ping")

    expected = [(LEADER_ID, "/ping"), (ROOM_ID, "/ping"), (ROOM_ID, f"@{LEADER_NAME} pong")]
    for conversation, text in expected:
        await live.control.wait_sent(
            lambda m, c=conversation, t=text: (m["conversationId"], m["text"]) == (c, t)
        )
    await asyncio.sleep(0.5)  # room for any wrong reply to show up
    sent = await live.control.sent()
    assert sorted((m["conversationId"], m["text"]) for m in sent) == sorted(expected)
    assert {event.user_id for event in delivered} == {LEADER_ID}
    assert len(delivered) == 3


async def test_wrong_token_is_reported_once_and_retried_slowly(
    gateway_plain: Gateway, wechaty_adapter: Adapter
) -> None:
    wrong = "not-the-gateway-token-5f2e"
    config = adapter_config(gateway_plain, token=wrong, reconnect_min=0.05, reconnect_max=0.4)
    before = wechaty_adapter.connect_attempts
    attempt_times: list[float] = []
    async with started_capturing(wechaty_adapter, config) as records:
        deadline = time.monotonic() + 5
        seen = before
        while len(attempt_times) < 3 and time.monotonic() < deadline:
            if wechaty_adapter.connect_attempts != seen:
                seen = wechaty_adapter.connect_attempts
                attempt_times.append(time.monotonic())
            await asyncio.sleep(0.005)
        assert len(attempt_times) >= 3, "the adapter stopped retrying altogether"
        assert wechaty_adapter.running
        assert BOT_ID not in wechaty_adapter.bots

    errors = logged_errors(records)
    assert len(errors) == 1, [r["message"] for r in errors]
    assert "WECHATY_TOKEN" in errors[0]["message"]
    assert "UNAUTHENTICATED" in errors[0]["message"]
    assert not any(wrong in r["message"] for r in records), "the token leaked into the logs"
    # Straight to the maximum back-off: no fast retries against a gateway that said no.
    gaps = [b - a for a, b in itertools.pairwise(attempt_times)]
    assert all(gap >= 0.3 for gap in gaps), gaps


@pytest.mark.parametrize("problem", ["unknown CA", "wrong server name"])
async def test_untrusted_gateway_certificate_is_reported_once(
    problem: str,
    gateway_tls: Gateway,
    tls_files: TlsFiles,
    wechaty_adapter: Adapter,
    tmp_path: Path,
) -> None:
    if problem == "unknown CA":
        other_ca = tmp_path / "other-ca.pem"
        trustme.CA().cert_pem.write_to_path(str(other_ca))
        config = adapter_config(gateway_tls, ca_file=other_ca, reconnect_max=0.2)
    else:
        # The certificate is valid for 127.0.0.1 (the endpoint host), so this fails only if the
        # configured server name really replaces the host in the check.
        config = adapter_config(
            gateway_tls, ca_file=tls_files.ca_cert, server_name="gateway.invalid", reconnect_max=0.2
        )
    before = wechaty_adapter.connect_attempts
    async with started_capturing(wechaty_adapter, config) as records:
        await wait_until(
            lambda: wechaty_adapter.connect_attempts >= before + 2, 5, "a second attempt"
        )
        assert BOT_ID not in wechaty_adapter.bots

    errors = logged_errors(records)
    assert len(errors) == 1, [r["message"] for r in errors]
    assert "WECHATY_TLS_CA_FILE" in errors[0]["message"]


async def test_a_stale_event_stream_on_the_gateway_is_taken_over(
    gateway_plain: Gateway, wechaty_adapter: Adapter, matchers: None
) -> None:
    """The gateway serves one event stream; a leftover one must not lock the bot out."""
    holder = WechatyPuppet(endpoint=gateway_plain.endpoint, token=gateway_plain.token)
    logins: list[str] = []
    holder.on("login", lambda payload: logins.append(payload.contact_id))
    stale = asyncio.create_task(holder.start())
    try:
        await wait_until(lambda: bool(logins), 5, "the stale stream to be up")
        with captured_logs() as records:
            await wechaty_adapter.start(adapter_config(gateway_plain))
            await wait_until(lambda: BOT_ID in wechaty_adapter.bots, 10, "the take-over")
        assert any("already serves another event stream" in r["message"] for r in records)
        await asyncio.wait_for(asyncio.shield(stale), 5)  # the gateway ended the stale stream

        reply = await gateway_plain.control().ask_privately(LEADER_ID, "/ping")
        assert reply["text"] == "pong to_me"
    finally:
        await wechaty_adapter.stop()
        stale.cancel()
        await asyncio.gather(stale, return_exceptions=True)
        await holder.stop()


async def test_a_frozen_gateway_is_detected_by_the_heartbeat(
    node_modules: None,
    gateway_logs: Path,
    wechaty_adapter: Adapter,
    matchers: None,
) -> None:
    """A hung peer keeps the TCP connection open; only the heartbeat notices."""
    gateway = Gateway(token=GATEWAY_TOKEN, log_path=gateway_logs / "frozen.log")
    await gateway.start()
    assert gateway.process is not None
    pid = gateway.process.pid
    frozen = False
    try:
        config = adapter_config(gateway, reconnect_min=0.1, reconnect_max=0.5, heartbeat=0.5)
        await wechaty_adapter.start(config)
        await wait_until(lambda: BOT_ID in wechaty_adapter.bots, 10, "the login")

        os.kill(pid, signal.SIGSTOP)
        frozen = True
        await wait_until(lambda: BOT_ID not in wechaty_adapter.bots, 5, "the heartbeat to fail")
        os.kill(pid, signal.SIGCONT)
        frozen = False
        await wait_until(lambda: BOT_ID in wechaty_adapter.bots, 10, "the reconnect")

        reply = await gateway.control().ask_privately(LEADER_ID, "/ping")
        assert reply["text"] == "pong to_me"
    finally:
        if frozen:
            os.kill(pid, signal.SIGCONT)
        await wechaty_adapter.stop()
        await gateway.kill()


async def test_reconnects_after_the_gateway_restarts_on_the_same_port(
    node_modules: None,
    gateway_logs: Path,
    wechaty_adapter: Adapter,
    matchers: None,
) -> None:
    first = Gateway(token=GATEWAY_TOKEN, log_path=gateway_logs / "restart-1.log")
    second = Gateway(token=GATEWAY_TOKEN, log_path=gateway_logs / "restart-2.log", port=first.port)
    await first.start()
    try:
        await wechaty_adapter.start(adapter_config(first, reconnect_min=0.1, reconnect_max=0.5))
        await wait_until(lambda: BOT_ID in wechaty_adapter.bots, 10, "the first login")
        old_bot = wechaty_adapter.bots[BOT_ID]

        await first.kill()
        await wait_until(lambda: BOT_ID not in wechaty_adapter.bots, 5, "the disconnect")
        with pytest.raises(ApiNotAvailable):
            await old_bot.send_to(LEADER_ID, "while the gateway is down")

        await second.start()
        await wait_until(lambda: BOT_ID in wechaty_adapter.bots, 10, "the reconnect")
        assert wechaty_adapter.bots[BOT_ID] is not old_bot

        control = second.control()
        await control.leader_mentions_bot("/ping")
        reply = await control.wait_sent(lambda m: m["conversationId"] == ROOM_ID)
        assert reply["text"] == f"@{LEADER_NAME} pong to_me"
        assert reply["mentionIds"] == [LEADER_ID]
    finally:
        await wechaty_adapter.stop()
        await first.kill()
        await second.kill()


def test_message_never_parses_markup() -> None:
    message = Message("[CQ:at,qq=all] hi")
    assert [seg.type for seg in message] == ["text"]
    assert str(message) == "[CQ:at,qq=all] hi"
    assert message.mention_ids() == []
    mixed = MessageSegment.mention(LEADER_ID) + " [CQ:at,qq=all]"
    assert mixed.mention_ids() == [LEADER_ID]
    assert mixed[1] == MessageSegment.text(" [CQ:at,qq=all]")


def test_config_reads_nonebot_style_values() -> None:
    # NoneBot JSON-decodes env values: a numeric token arrives as an int.
    config = Config.model_validate(
        {"wechaty_endpoint": "127.0.0.1:8788", "wechaty_token": 123456, "wechaty_tls": "true"}
    )
    assert config.wechaty_token is not None
    assert config.wechaty_token.get_secret_value() == "123456"
    assert config.wechaty_tls is True
    assert "123456" not in repr(config)
    with pytest.raises(ValueError):
        Config.model_validate({"wechaty_endpoint": "https://gateway.example/"})
    with pytest.raises(ValueError):
        Config.model_validate(
            {"wechaty_reconnect_min_seconds": 10, "wechaty_reconnect_max_seconds": 1}
        )
