"""The gRPC transport: `wechaty_puppet_service.PuppetService` with the gaps that matter closed.

Upstream `PuppetService` (0.8.10) is used for every API call (`message_payload`,
`message_send_text`, `room_member_payload`, ...). What it does not do, this subclass does:

- explicit endpoint only: upstream falls back to an internet lookup (`api.chatie.io`) when no
  endpoint is set, probes the endpoint with a *blocking* telnet connect, and reads `TOKEN` /
  `ENDPOINT` environment variables; `_init_puppet` is replaced so none of that can happen;
- TLS: upstream only speaks plaintext h2c; here the grpclib `Channel` gets an `SSLContext`
  (ALPN h2, the configured CA, optional server-name override);
- auth: upstream smuggles the token in the `:authority` header (which breaks TLS virtual
  hosting); here every call carries `authorization: Wechaty <token>` metadata, which the
  TypeScript `PuppetServer` checks first;
- the token is never logged (upstream logs it at WARNING in `__init__`);
- the event loop tolerates payloads it cannot parse instead of dying on them (upstream raises on
  the TypeScript gateways' `error` event payload and would drop the whole stream).
"""

from __future__ import annotations

import asyncio
import json
import ssl
import warnings
from pathlib import Path
from typing import Any

from grpclib.client import Channel
from grpclib.config import Configuration
from nonebot.log import logger
from pyee.asyncio import AsyncIOEventEmitter
from wechaty_grpc.wechaty import PuppetStub
from wechaty_grpc.wechaty.puppet import EventType
from wechaty_puppet import (
    EventErrorPayload,
    EventHeartbeatPayload,
    EventLoginPayload,
    EventLogoutPayload,
    EventMessagePayload,
    EventReadyPayload,
    Puppet,
    PuppetOptions,
)

from .config import split_endpoint

with warnings.catch_warnings():
    # wechaty_puppet_service.utils imports telnetlib (deprecated in 3.11, gone in 3.13) for a
    # blocking endpoint probe this adapter never uses; keep the warning out of every test run.
    warnings.filterwarnings("ignore", "'telnetlib' is deprecated", DeprecationWarning)
    from wechaty_puppet_service import PuppetService


def build_ssl_context(ca_file: Path | None) -> ssl.SSLContext:
    """Client TLS context for a gRPC gateway: verify the server, TLS >= 1.2, ALPN h2.

    Reads the CA file, so call it off the event loop (`asyncio.to_thread`).
    """
    ctx = ssl.create_default_context(
        purpose=ssl.Purpose.SERVER_AUTH, cafile=str(ca_file) if ca_file else None
    )
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    # gRPC requires HTTP/2 negotiated by ALPN; grpc-js servers refuse a TLS client without it.
    ctx.set_alpn_protocols(["h2"])
    return ctx


class WechatyPuppet(PuppetService):
    """One connection to a Wechaty Puppet Service gateway. Create a new one per connect."""

    def __init__(
        self,
        *,
        endpoint: str,
        token: str,
        ssl_context: ssl.SSLContext | None = None,
        tls_server_name: str | None = None,
    ) -> None:
        # Skip PuppetService.__init__ on purpose: it consults TOKEN/ENDPOINT environment
        # variables and logs the token. Set up the same attributes it would.
        Puppet.__init__(self, PuppetOptions(token=token, end_point=endpoint), "gridbot-wechaty")
        self.channel: Channel | None = None
        self._puppet_stub: PuppetStub | None = None
        self._event_stream = AsyncIOEventEmitter()
        self.login_user_id: str | None = None
        self._endpoint = endpoint
        self._token = token
        self._ssl_context = ssl_context
        self._tls_server_name = tls_server_name

    def _init_puppet(self) -> None:
        raise RuntimeError("WechatyPuppet connects in start(); the upstream path is disabled")

    def _open_channel(self) -> None:
        host, port = split_endpoint(self._endpoint)
        config = None
        if self._ssl_context is not None and self._tls_server_name:
            config = Configuration(ssl_target_name_override=self._tls_server_name)
        self.channel = Channel(host=host, port=port, ssl=self._ssl_context, config=config)
        self._puppet_stub = PuppetStub(
            self.channel, metadata={"authorization": f"Wechaty {self._token}"}
        )

    async def start(  # type: ignore[override]
        self, *, take_over: bool = False, connect_timeout: float = 30.0
    ) -> None:
        """Connect, start the remote puppet, then stream events until the stream ends.

        Returns when the gateway ends the stream; raises on connection or gRPC errors, and
        TimeoutError when the gateway accepts the connection but does not answer `start`.
        Upstream stops the remote puppet before starting it, which logs the bot out on every
        reconnect; `start` is idempotent on the gateway, so only `take_over` (used after the
        gateway reported a stale event stream) does the stop first.
        """
        self._open_channel()
        async with asyncio.timeout(connect_timeout):
            if take_over:
                await self.puppet_stub.stop()
            await self.puppet_stub.start()
        await self._listen_for_event()

    async def stop(self) -> None:
        """Close the connection without stopping the remote puppet.

        Stopping the remote puppet would log the WeChat account out on the gateway; closing the
        channel ends our event stream, which is all a bot restart or reconnect needs.
        """
        self._event_stream.remove_all_listeners()
        self._puppet_stub = None
        if self.channel is not None:
            self.channel.close()
            self.channel = None

    async def _listen_for_event(self) -> None:
        async for response in self.puppet_stub.event():
            if response is None:
                continue
            try:
                self._dispatch(int(response.type), response.payload)
            except Exception as exc:  # one bad event must not cost the whole stream
                logger.opt(exception=exc).warning(
                    f"Wechaty: ignored an event of type {int(response.type)} that did not parse"
                )

    def _dispatch(self, event_type: int, raw_payload: str) -> None:
        data: dict[str, Any] = json.loads(raw_payload) if raw_payload else {}
        emit = self._event_stream.emit
        if event_type == EventType.EVENT_TYPE_MESSAGE:
            emit("message", EventMessagePayload(message_id=data["messageId"]))
        elif event_type == EventType.EVENT_TYPE_LOGIN:
            self.login_user_id = data["contactId"]
            emit("login", EventLoginPayload(contact_id=data["contactId"]))
        elif event_type == EventType.EVENT_TYPE_LOGOUT:
            self.login_user_id = None
            emit("logout", EventLogoutPayload(contact_id=data.get("contactId", ""), data=""))
        elif event_type in (EventType.EVENT_TYPE_HEARTBEAT, EventType.EVENT_TYPE_DONG):
            emit("heartbeat", EventHeartbeatPayload(data=str(data.get("data", ""))))
        elif event_type == EventType.EVENT_TYPE_READY:
            emit("ready", EventReadyPayload(data=str(data.get("data", ""))))
        elif event_type == EventType.EVENT_TYPE_ERROR:
            # TypeScript gateways send {"gerror": "..."}; older ones {"data": "..."}.
            detail = data.get("gerror") or data.get("data") or raw_payload
            # "error" is also pyee's own channel for handler failures; keep them apart.
            emit("gateway-error", EventErrorPayload(data=str(detail)))
        # scan, friendship, room-*, dirty: not used by gridbot yet; ignored on purpose.
