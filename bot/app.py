"""NoneBot assembly: init, adapters, plugins, runtime. Used by `gridbot run` and tests."""

from __future__ import annotations

import gc
import logging
import sys
from functools import partial
from typing import Any

import nonebot
from nonebot.adapters import Bot, Event
from nonebot.exception import IgnoredException
from nonebot.message import event_preprocessor
from nonebot.params import Depends
from nonebot.typing import T_State

from bot import inbound, intake
from bot.clock import clock_from_setting
from bot.delivery import DeliveryTransport
from bot.outbox import Outbox
from bot.platforms import is_own_or_system
from bot.runtime import Runtime, install_runtime
from bot.settings import Settings
from bot.webhook import WebhookChannel
from storage.db import Database

PLUGINS = (
    "plugins.roster", "plugins.checkin", "plugins.broadcast", "plugins.slogans", "plugins.policy",
    "plugins.quarantine", "plugins.incidents", "plugins.duties", "plugins.retention",
    "plugins.reminders", "plugins.alerts", "plugins.assist", "plugins.supervision",
    "plugins.console",
)


async def _inbound(
    bot: Bot, event: Event, state: T_State, ticket: Any = Depends(intake.turn, use_cache=False)
) -> None:
    """Every event's one preprocessor (NoneBot runs each in task groups, a task per
    parameter, so there is one): never answer ourselves or platform system accounts
    (bot-to-bot loops); our own log line, over-long commands refused; then the
    bounded intake, whose turn ``intake.turn`` holds until the event is done.
    (``Any``: NoneBot would otherwise validate the dependency's value.)"""
    if event.get_type() != "message":
        return
    if is_own_or_system(bot, event):
        raise IgnoredException("own or system message")
    await inbound.log_and_bound(bot, event)
    await intake.gate(bot, event, state, ticket)


def use_console(settings: Settings) -> bool:
    if settings.console is not None:
        return settings.console
    return sys.stdin.isatty() and sys.stdout.isatty()


def register_adapters(settings: Settings, console: bool) -> None:
    from nonebot.adapters.onebot.v11 import Adapter as OneBotV11Adapter

    driver = nonebot.get_driver()
    driver.register_adapter(OneBotV11Adapter)
    if console:
        from nonebot.adapters.console import Adapter as ConsoleAdapter

        driver.register_adapter(ConsoleAdapter)
    if settings.wechaty_endpoint:
        from bot.adapters.wechaty import Adapter as WechatyAdapter

        driver.register_adapter(WechatyAdapter)


def load_plugins() -> None:
    event_preprocessor(_inbound)
    intake.install()  # an answer when a handler fails
    for name in PLUGINS:
        nonebot.load_plugin(name)
    from bot import router

    router.install()  # last: the plugins' declarations make its table
    from bot import console

    console.install(nonebot.get_app(), console.declared_parts(
        p.metadata.extra for p in nonebot.get_loaded_plugins() if p.metadata))
    install_health(nonebot.get_app())


def install_health(app: Any) -> None:
    """``GET /healthz``: 200 while the database answers, else 503 (for a service
    manager's or a container's healthcheck; it shows nothing else)."""
    from fastapi.responses import PlainTextResponse
    from sqlalchemy import text

    from bot.runtime import current_runtime

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> PlainTextResponse:
        try:
            async with current_runtime().db.read() as s:
                await s.exec(text("SELECT 1"))
        except Exception:
            return PlainTextResponse("database unavailable", status_code=503)
        return PlainTextResponse("ok")


def _redacted_logging(settings: Settings) -> None:
    """Every log line, NoneBot's and ours (stdlib `logging` routed into it), goes
    through one redacting handler: no message text, no secret, no phone or ID."""
    from nonebot.log import LoguruHandler

    from bot.inbound import install_log_redaction

    level = settings.log_level
    install_log_redaction(level=int(level) if level.isdigit() else level.upper())
    logging.basicConfig(handlers=[LoguruHandler()], level=settings.log_level, force=True)


def build_runtime(settings: Settings) -> Runtime:
    return Runtime(
        settings=settings, db=Database(settings.db_url, pool_size=settings.db_pool_size),
        clock=clock_from_setting(settings.clock_start),
    )


def declared_outbox_hooks(runtime: Runtime) -> dict:
    """`extra["outbox_hooks"]` of the loaded plugins, bound to this runtime."""
    hooks = {}
    for plugin in nonebot.get_loaded_plugins():
        meta = plugin.metadata
        if meta and isinstance(meta.extra, dict):
            for prefix, fn in meta.extra.get("outbox_hooks", {}).items():
                hooks[prefix] = partial(fn, runtime)
    return hooks


async def alert_operators(runtime: Runtime, queue: str, detail: str) -> None:
    """Tell the superusers, through any *other* connected account (the paused one
    must stay quiet); the log line is always written by the outbox."""
    text = runtime.renderer.render("ops/breaker_open", queue=queue, detail=detail)
    paused_bot = queue.split(":", 1)[1]
    for account in sorted(runtime.settings.superusers):
        try:
            await runtime.delivery.send_account_now(account, text, exclude_bot=paused_bot)
        except Exception as err:  # no other account online: the log must do
            logging.getLogger("gridbot.ops").warning("cannot alert %s: %s", account, err)


def attach_outbox(runtime: Runtime, **kwargs) -> Outbox:
    """Put the paced outbox behind the runtime's delivery seam."""
    transport = DeliveryTransport(runtime.delivery, webhook=WebhookChannel())
    kwargs.setdefault("wall", runtime.utcnow)  # not_before and quiet hours: the runtime clock
    # Its leases (several processes on one database) last as the scheduler's do.
    kwargs.setdefault("lease_ttl", runtime.settings.scheduler_lease_ttl_s)
    kwargs.setdefault("lease_renew", runtime.settings.scheduler_lease_renew_s)
    outbox = Outbox(
        runtime.db, transport, runtime.settings.pacing_table(),
        hooks=declared_outbox_hooks(runtime), alert=partial(alert_operators, runtime),
        **kwargs,
    )
    runtime.outbox = outbox
    runtime.delivery.attach(outbox)
    return outbox


def setup(settings: Settings, console: bool) -> Runtime:
    """Init NoneBot with our settings and install a runtime on its driver."""
    _redacted_logging(settings)  # first: nonebot.init logs its config, token included
    nonebot.init(**settings.nonebot_kwargs())
    register_adapters(settings, console)
    load_plugins()
    runtime = build_runtime(settings)
    install_runtime(runtime)
    driver = nonebot.get_driver()
    driver.on_shutdown(runtime.db.dispose)

    async def _flush_usage() -> None:
        await runtime.usage.flush(runtime.db, runtime.now())

    driver.on_shutdown(_flush_usage)  # shutdown hooks run in reverse: before dispose
    from bot.scheduler import Scheduler, declared_hooks

    runtime.scheduler = Scheduler.from_hooks(runtime, declared_hooks())
    driver.on_startup(runtime.scheduler.start)
    driver.on_shutdown(runtime.scheduler.stop)  # shutdown hooks run in reverse: before dispose
    outbox = attach_outbox(runtime)
    transport = outbox.transport
    driver.on_startup(outbox.start)
    driver.on_shutdown(transport.webhook.aclose)  # shutdown runs in reverse: after stop
    driver.on_shutdown(outbox.stop)
    driver.on_startup(_freeze_startup_objects)  # last: after everything above is loaded
    return runtime


async def _freeze_startup_objects() -> None:
    """Move what start-up built out of the GC's reach: full collections of those
    long-lived objects were the p99 of every command (see docs/benchmarks.md)."""
    gc.collect()
    gc.freeze()
