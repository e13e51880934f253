"""WeCom group-robot webhooks: a push-only channel for resident groups.

A group bound to a webhook URL gets broadcasts and slogans by HTTP POST instead
of through a bot-joined room. The robot takes at most 20 messages a minute
(errcode 45009 beyond that); the outbox's `webhook:<url>` queue paces it.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import httpx

from storage.models_outbox import OutboxItem

RATE_LIMITED = 45009
TEXT_LIMIT = 2048  # bytes of content the robot accepts in one text message


def mask_url(url: str) -> str:
    """Never show the key: it lets anyone post into the group."""
    parts = urlsplit(url)
    key = parse_qs(parts.query).get("key", [""])[0]
    shown = f"{key[:4]}…{key[-4:]}" if len(key) > 8 else "…"
    return f"{parts.scheme}://{parts.netloc}{parts.path}?key={shown}"


LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
WEBHOOK_PATH = "/cgi-bin/webhook/send"


def valid_webhook(url: str, allowed_hosts: set[str]) -> bool:
    """A WeCom robot URL: https on port 443 to an allowed host, the robot path and
    one key; no userinfo, backslashes or control characters (parsers disagree on
    those, and a lenient one sends the key elsewhere). Plain http only to a
    loopback robot (the tests' own)."""
    if "\\" in url or any(ord(c) < 33 or ord(c) == 127 for c in url):
        return False
    parts = urlsplit(url)
    if "@" in parts.netloc or parts.hostname not in allowed_hosts:
        return False
    try:
        port = parts.port
    except ValueError:
        return False
    if parts.scheme == "https":
        if port not in (None, 443) and parts.hostname not in LOOPBACK:
            return False
    elif parts.scheme != "http" or parts.hostname not in LOOPBACK:
        return False  # the key must not cross a network in clear text
    if parts.path != WEBHOOK_PATH or parts.fragment:
        return False
    keys = parse_qs(parts.query).get("key", [])
    return len(keys) == 1 and bool(keys[0])


def clip(text: str) -> str:
    data = text.encode("utf-8")
    if len(data) <= TEXT_LIMIT:
        return text
    return data[: TEXT_LIMIT - 3].decode("utf-8", errors="ignore") + "…"


class WebhookChannel:
    """Sends outbox rows whose target is a webhook URL."""

    def __init__(self, client: httpx.AsyncClient | None = None, timeout: float = 10.0) -> None:
        self.client = client or httpx.AsyncClient(timeout=timeout)

    async def send(self, item: OutboxItem) -> None:
        from bot.transport import NotSent, SendFailed

        body = {"msgtype": "text", "text": {"content": clip(item.text)}}
        try:
            response = await self.client.post(item.target, json=body)
        except httpx.ConnectError as err:  # nothing reached the server
            raise NotSent(f"webhook unreachable: {type(err).__name__}") from err
        # Other transport errors (timeouts, a cut reply) leave the outcome unknown:
        # they propagate and the outbox records `unknown`.
        try:
            payload = response.json()
        except (json.JSONDecodeError, ValueError):
            raise SendFailed(response.status_code, "webhook answered non-JSON") from None
        code = payload.get("errcode", -1)
        if code != 0:
            raise SendFailed(code, str(payload.get("errmsg", "")))

    async def aclose(self) -> None:
        await self.client.aclose()
