"""NoneBot2 adapter for WeChat through a Wechaty Puppet Service gateway (gRPC).

Lifecycle: `start()` (run by the driver's startup hook, or called directly) launches one
supervisor task. It connects, streams events, and on any failure or disconnect reconnects with
exponential back-off between `wechaty_reconnect_min_seconds` and `..._max_seconds`. A rejected
token or an untrusted certificate is reported once, clearly, and retried only at the maximum
interval (someone has to fix the configuration; hammering the gateway will not). `stop()` (the
shutdown hook) cancels everything and closes the channel.

The bot appears in NoneBot when the gateway reports the login (self_id = the bot's contact id)
and disappears when the connection is lost or the account logs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from grpclib.const import Status
from grpclib.exceptions import GRPCError, ProtocolError, StreamTerminatedError
from nonebot import get_plugin_config
from nonebot.adapters import Adapter as BaseAdapter
from nonebot.drivers import Driver
from nonebot.log import logger
from typing_extensions import override
from wechaty_grpc.wechaty.puppet import MessageType

from .bot import Bot
from .config import Config
from .event import GroupMessageEvent, MessageEvent, PrivateMessageEvent
from .exception import ADAPTER_NAME, ActionFailed, ApiNotAvailable, NetworkError
from .message import Message
from .transport import WechatyPuppet, build_ssl_context

# Platform accounts that talk to every WeChat user; answering them only makes noise (a WeChat
# bot once chatted all night with `weixin`). Official accounts (公众号) have ids starting `gh_`.
SYSTEM_ACCOUNTS = frozenset(
    {
        "weixin",
        "filehelper",
        "fmessage",
        "floatbottle",
        "medianote",
        "mphelper",
        "newsapp",
        "qmessage",
        "qqmail",
        "qqsync",
        "tmessage",
    }
)
# What WeChat clients put after "@name": a four-per-em space (U+2005), or a plain/nbsp space.
MENTION_SEPARATORS = (" ", "\u2005", "\u00a0")


def is_system_account(contact_id: str) -> bool:
    return contact_id in SYSTEM_ACCOUNTS or contact_id.startswith("gh_")


class HeartbeatTimeout(Exception):
    """The gateway did not answer a liveness probe in time."""


class StreamEnded(Exception):
    """The gateway closed the event stream without an error."""


@dataclass(eq=False)
class _Connection:
    """State that lives exactly as long as one gateway connection."""

    puppet: WechatyPuppet
    bot: Bot | None = None
    established: bool = False
    self_name: str | None = None
    self_room_alias: dict[str, str] = field(default_factory=dict)


# API name -> how to call it on the puppet. Keyword names are the adapter's public API.
_API: dict[str, Callable[..., Awaitable[Any]]] = {
    "message_send_text": lambda p, *, conversation_id, text, mention_ids=None: p.message_send_text(
        conversation_id=conversation_id, message=text, mention_ids=list(mention_ids or [])
    ),
    "message_payload": lambda p, *, message_id: p.message_payload(message_id),
    "contact_payload": lambda p, *, contact_id: p.contact_payload(contact_id),
    "room_payload": lambda p, *, room_id: p.room_payload(room_id),
    "room_members": lambda p, *, room_id: p.room_members(room_id),
    "room_member_payload": lambda p, *, room_id, contact_id: p.room_member_payload(
        room_id, contact_id
    ),
    "ding": lambda p, *, data="": p.ding(data),
}


class Adapter(BaseAdapter):
    """The "Wechaty" adapter. Register with `driver.register_adapter(Adapter)`."""

    @override
    def __init__(self, driver: Driver, **kwargs: Any) -> None:
        super().__init__(driver, **kwargs)
        self.wechaty_config: Config = get_plugin_config(Config)
        self.connect_attempts = 0
        """Connection attempts since the adapter was created (for operators and tests)."""
        self._supervisor: asyncio.Task[None] | None = None
        self._conn: _Connection | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._config_error_reported = False
        # Registered after startup (e.g. under nonebug) these never run; call start() then.
        driver.on_startup(self.start)
        driver.on_shutdown(self.stop)

    @classmethod
    @override
    def get_name(cls) -> str:
        return ADAPTER_NAME

    # ------------------------------------------------------------------ lifecycle

    @property
    def running(self) -> bool:
        return self._supervisor is not None and not self._supervisor.done()

    async def start(self, config: Config | None = None) -> None:
        """Start the supervised connection (idempotent). `config` replaces the settings."""
        if config is not None:
            if self.running:
                raise RuntimeError("stop() the Wechaty adapter before changing its config")
            self.wechaty_config = config
        if self.running:
            return
        cfg = self.wechaty_config
        if not cfg.wechaty_endpoint:
            logger.error(
                "Wechaty adapter not started: WECHATY_ENDPOINT (gateway host:port) is not set"
            )
            return
        if cfg.wechaty_token is None:
            logger.error("Wechaty adapter not started: WECHATY_TOKEN is not set")
            return
        self._config_error_reported = False
        self._supervisor = asyncio.create_task(self._supervise(cfg), name="wechaty-supervisor")

    async def stop(self) -> None:
        """Disconnect and stop reconnecting. Safe to call more than once."""
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await supervisor
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # ------------------------------------------------------------------ supervision

    async def _supervise(self, cfg: Config) -> None:
        endpoint = cfg.wechaty_endpoint
        assert endpoint is not None and cfg.wechaty_token is not None  # checked in start()
        ssl_context: ssl.SSLContext | None = None
        if cfg.wechaty_tls:
            try:
                # Reads the CA file: keep file I/O off the event loop.
                ssl_context = await asyncio.to_thread(build_ssl_context, cfg.wechaty_tls_ca_file)
            except (OSError, ssl.SSLError) as exc:
                logger.error(
                    f"Wechaty adapter not started: cannot load WECHATY_TLS_CA_FILE "
                    f"({cfg.wechaty_tls_ca_file}): {exc}"
                )
                return

        delay = cfg.wechaty_reconnect_min_seconds
        take_over = False
        failures = 0
        while True:
            self.connect_attempts += 1
            conn = _Connection(
                WechatyPuppet(
                    endpoint=endpoint,
                    token=cfg.wechaty_token.get_secret_value(),
                    ssl_context=ssl_context,
                    tls_server_name=cfg.wechaty_tls_server_name,
                )
            )
            self._conn = conn
            problem: str | None = None
            started = asyncio.get_running_loop().time()
            try:
                logger.debug(f"Wechaty: connecting to {endpoint} (attempt {self.connect_attempts})")
                await self._run_connection(conn, cfg, take_over=take_over)
            except asyncio.CancelledError:
                raise
            except GRPCError as exc:
                if exc.status is Status.UNAUTHENTICATED:
                    # exc.message echoes the rejected token: never log it.
                    self._report_config_error(
                        f"Wechaty gateway {endpoint} rejected the token (UNAUTHENTICATED). "
                        f"Set WECHATY_TOKEN to the gateway's token; "
                        f"retrying every {cfg.wechaty_reconnect_max_seconds:g}s"
                    )
                    delay = cfg.wechaty_reconnect_max_seconds
                elif exc.status is Status.ALREADY_EXISTS:
                    # The gateway still holds an event stream (a previous connection it has not
                    # noticed is gone, or a second bot process). Next time, end it first.
                    take_over = True
                    problem = "the gateway already serves another event stream; taking it over"
                else:
                    problem = f"gRPC {exc.status.name}: {exc.message}"
            except ssl.SSLCertVerificationError as exc:
                self._report_config_error(
                    f"Wechaty gateway {endpoint}: TLS certificate not trusted "
                    f"({exc.verify_message}). Check WECHATY_TLS_CA_FILE and "
                    f"WECHATY_TLS_SERVER_NAME; retrying every "
                    f"{cfg.wechaty_reconnect_max_seconds:g}s"
                )
                delay = cfg.wechaty_reconnect_max_seconds
            except HeartbeatTimeout:
                problem = "no answer to the heartbeat"
            except StreamEnded:
                problem = "the gateway ended the event stream"
            except (OSError, ProtocolError, StreamTerminatedError, ssl.SSLError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            except Exception as exc:
                logger.opt(exception=exc).error("Wechaty: unexpected error in the connection")
                problem = f"{type(exc).__name__}"
            finally:
                await self._close_connection(conn)
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                # Stopped while it failed (closing can raise and hide the cancel): no retry,
                # or stop() would wait for ever.
                raise asyncio.CancelledError

            lived = asyncio.get_running_loop().time() - started
            if conn.established and lived >= cfg.wechaty_reconnect_max_seconds:
                # It worked for a while: start the back-off over, forget reported errors. A
                # gateway that drops every stream right away keeps backing off instead.
                delay = cfg.wechaty_reconnect_min_seconds
                failures = 0
                take_over = False
                self._config_error_reported = False
            failures += 1
            if problem is not None:
                message = f"Wechaty: connection to {endpoint} lost or failed ({problem}); "
                message += f"retrying in {delay:g}s"
                # Warn on the first failure of a streak and whenever at the maximum interval, so
                # an outage stays visible without a log line per quick retry.
                if failures == 1 or delay >= cfg.wechaty_reconnect_max_seconds:
                    logger.warning(message)
                else:
                    logger.debug(message)
            await asyncio.sleep(delay)
            delay = min(delay * 2, cfg.wechaty_reconnect_max_seconds)

    def _report_config_error(self, message: str) -> None:
        if self._config_error_reported:
            logger.debug(message)
            return
        self._config_error_reported = True
        logger.error(message)

    async def _run_connection(self, conn: _Connection, cfg: Config, *, take_over: bool) -> None:
        """Serve one connection until it fails; always raises."""
        puppet = conn.puppet

        def established(*_: Any) -> None:
            conn.established = True

        puppet.on("heartbeat", established)
        puppet.on("ready", established)
        puppet.on("login", lambda payload: self._on_login(conn, payload.contact_id))
        puppet.on("logout", lambda _payload: self._on_logout(conn))
        puppet.on("message", lambda payload: self._on_message(conn, payload.message_id))
        puppet.on(
            "gateway-error",
            lambda payload: logger.warning(f"Wechaty gateway error: {payload.data}"),
        )
        # pyee routes exceptions raised by the handlers above to "error".
        puppet.on(
            "error",
            lambda exc: logger.opt(exception=exc).error("Wechaty: event handler failed"),
        )

        stream = asyncio.create_task(
            puppet.start(take_over=take_over, connect_timeout=cfg.wechaty_api_timeout),
            name="wechaty-stream",
        )
        waiters: set[asyncio.Task[Any]] = {stream}
        if cfg.wechaty_heartbeat_seconds > 0:
            waiters.add(asyncio.create_task(self._heartbeat(conn, cfg), name="wechaty-heartbeat"))
        try:
            done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # re-raise the failure that ended the connection
            raise StreamEnded
        finally:
            for task in waiters:
                task.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)

    async def _heartbeat(self, conn: _Connection, cfg: Config) -> None:
        # A half-open TCP connection (NAT timeout, suspended host) never errors by itself:
        # a periodic unary call proves the gateway is still there.
        interval = cfg.wechaty_heartbeat_seconds
        timeout = min(interval, cfg.wechaty_api_timeout)
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.wait_for(conn.puppet.ding("heartbeat"), timeout)
            except GRPCError as exc:
                # An error status is still an answer: the gateway is alive (its puppet may
                # simply not implement ding).
                logger.debug(f"Wechaty: heartbeat answered with {exc.status.name}")
            except (TimeoutError, OSError, ProtocolError, StreamTerminatedError) as exc:
                raise HeartbeatTimeout from exc

    async def _close_connection(self, conn: _Connection) -> None:
        if self._conn is conn:
            self._conn = None
        self._drop_bot(conn)
        try:
            await conn.puppet.stop()
        except Exception as exc:  # closing a broken channel must not stop the supervisor
            logger.opt(exception=exc).debug("Wechaty: error while closing the channel")

    # ------------------------------------------------------------------ events

    def _on_login(self, conn: _Connection, self_id: str) -> None:
        conn.established = True
        if conn.bot is not None:
            if conn.bot.self_id == self_id:
                return  # the gateway repeats the login on every new stream
            self._drop_bot(conn)
        bot = Bot(self, self_id)
        conn.bot = bot
        self.bot_connect(bot)
        logger.success(f"Wechaty: bot {self_id} connected")

    def _on_logout(self, conn: _Connection) -> None:
        logger.warning("Wechaty: the bot account logged out on the gateway")
        self._drop_bot(conn)

    def _drop_bot(self, conn: _Connection) -> None:
        bot, conn.bot = conn.bot, None
        if bot is not None and self.bots.get(bot.self_id) is bot:
            self.bot_disconnect(bot)
            logger.info(f"Wechaty: bot {bot.self_id} disconnected")

    def _on_message(self, conn: _Connection, message_id: str) -> None:
        conn.established = True
        # Fetch and dispatch off the stream loop so one slow payload does not stall the stream.
        self._spawn(self._handle_message(conn, message_id))

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle_message(self, conn: _Connection, message_id: str) -> None:
        bot = conn.bot
        if bot is None:
            logger.debug(f"Wechaty: message {message_id} before login, dropped")
            return
        try:
            payload = await asyncio.wait_for(
                conn.puppet.message_payload(message_id), self.wechaty_config.wechaty_api_timeout
            )
            event = await self._to_event(conn, bot, payload)
        except Exception as exc:
            logger.warning(f"Wechaty: cannot load message {message_id}: {type(exc).__name__}")
            return
        if event is not None:
            try:
                await bot.handle_event(event)
            except Exception as exc:  # matchers' errors are NoneBot's to log; this is a backstop
                logger.opt(exception=exc).error(f"Wechaty: handling message {message_id} failed")

    async def _to_event(self, conn: _Connection, bot: Bot, payload: Any) -> MessageEvent | None:
        talker: str = payload.from_id
        if not talker or talker == bot.self_id or is_system_account(talker):
            return None
        # TypeScript gateways put wechaty-puppet's numbering on the wire (Text = 7, which the
        # Python proto calls VIDEO); upstream message_payload() maps it back to the proto enum.
        if payload.type != MessageType.MESSAGE_TYPE_TEXT:
            return None  # images, files, cards ...: gridbot works with text only
        text: str = payload.text or ""
        common: dict[str, Any] = {
            "self_id": bot.self_id,
            "message_id": payload.id,
            "user_id": talker,
            "original_message": Message(text),
            "mention_ids": list(payload.mention_ids),
            "timestamp": int(payload.timestamp or 0),
        }
        room: str = payload.room_id
        if room:
            stripped, prefixed = await self._strip_self_mention(conn, bot, room, text)
            return GroupMessageEvent(
                **common,
                group_id=room,
                message=Message(stripped),
                to_me=prefixed or bot.self_id in common["mention_ids"],
            )
        if payload.to_id and payload.to_id != bot.self_id:
            return None  # a private message between others: not ours to answer
        return PrivateMessageEvent(**common, message=Message(text))

    async def _strip_self_mention(
        self, conn: _Connection, bot: Bot, room: str, text: str
    ) -> tuple[str, bool]:
        """Remove a leading "@<bot name> " so commands like "@网格通 /打卡" parse."""
        if not text.startswith("@"):
            return text, False
        names = [await self._self_name(conn, bot), await self._self_room_alias(conn, bot, room)]
        for name in sorted({n for n in names if n}, key=len, reverse=True):
            prefix = f"@{name}"
            if not text.startswith(prefix):
                continue
            rest = text[len(prefix) :]
            if not rest:
                return "", True
            if rest[0] in MENTION_SEPARATORS:
                return rest.lstrip("".join(MENTION_SEPARATORS)), True
        return text, False

    async def _self_name(self, conn: _Connection, bot: Bot) -> str:
        if conn.self_name is None:
            contact = await bot.call_api("contact_payload", contact_id=bot.self_id)
            conn.self_name = contact.name or ""
        return conn.self_name

    async def _self_room_alias(self, conn: _Connection, bot: Bot, room: str) -> str:
        if room not in conn.self_room_alias:
            try:
                member = await bot.call_api(
                    "room_member_payload", room_id=room, contact_id=bot.self_id
                )
                conn.self_room_alias[room] = member.room_alias or ""
            except ActionFailed:
                conn.self_room_alias[room] = ""
        return conn.self_room_alias[room]

    # ------------------------------------------------------------------ API

    @override
    async def _call_api(self, bot: Bot, api: str, **data: Any) -> Any:
        call = _API.get(api)
        if call is None:
            raise ActionFailed(api, "UNIMPLEMENTED", "not supported by the Wechaty adapter")
        conn = self._conn
        if conn is None or conn.bot is not bot:
            raise ApiNotAvailable
        timeout = self.wechaty_config.wechaty_api_timeout
        try:
            return await asyncio.wait_for(call(conn.puppet, **data), timeout)
        except TimeoutError:
            raise NetworkError(f"{api}: no answer from the gateway within {timeout:g}s") from None
        except GRPCError as exc:
            detail = None if exc.status is Status.UNAUTHENTICATED else exc.message
            raise ActionFailed(api, exc.status.name, detail) from exc
        except (OSError, ProtocolError, StreamTerminatedError) as exc:
            raise NetworkError(f"{api}: {type(exc).__name__}: {exc}") from exc
