"""NoneBot assembly: init, adapters, plugins, runtime. Used by `gridbot run` and tests."""

from __future__ import annotations

import sys

import nonebot
from nonebot.adapters import Bot, Event
from nonebot.exception import IgnoredException
from nonebot.message import event_preprocessor

from bot.platforms import SYSTEM_ACCOUNTS, account_of
from bot.runtime import Runtime, install_runtime
from bot.settings import Settings
from storage.db import Database

PLUGINS = ("plugins.roster",)


async def _ignore_self_and_system(bot: Bot, event: Event) -> None:
    """Never answer ourselves or platform system accounts (bot-to-bot loops)."""
    if event.get_type() != "message":
        return
    account = account_of(bot, event)
    if account is None:
        return
    if account in SYSTEM_ACCOUNTS or account.split(":", 1)[1] == bot.self_id:
        raise IgnoredException("own or system message")


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


def load_plugins() -> None:
    event_preprocessor(_ignore_self_and_system)
    for name in PLUGINS:
        nonebot.load_plugin(name)


def build_runtime(settings: Settings) -> Runtime:
    return Runtime(settings=settings, db=Database(settings.db_url))


def setup(settings: Settings, console: bool) -> Runtime:
    """Init NoneBot with our settings and install a runtime on its driver."""
    nonebot.init(**settings.nonebot_kwargs())
    register_adapters(settings, console)
    load_plugins()
    runtime = build_runtime(settings)
    install_runtime(runtime)
    driver = nonebot.get_driver()
    driver.on_shutdown(runtime.db.dispose)
    return runtime
