"""What handlers and jobs need, built once at start and handed to NoneBot's driver.

Handlers get it through the `RuntimeDep` dependency; tests build their own
Runtime (own database file, own settings) and install it the same way.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import nonebot
from nonebot.drivers import Driver
from nonebot.params import Depends

from bot.delivery import Delivery
from bot.settings import Settings
from messages.render import Renderer
from storage.db import Database
from storage.timeutil import local_now


@dataclass
class Runtime:
    settings: Settings
    db: Database
    delivery: Delivery = field(default_factory=Delivery)
    renderer: Renderer = field(default_factory=Renderer)
    clock: Callable[[], datetime] = local_now

    def now(self) -> datetime:
        return self.clock()


_runtimes: weakref.WeakKeyDictionary[Driver, Runtime] = weakref.WeakKeyDictionary()


def install_runtime(runtime: Runtime, driver: Driver | None = None) -> None:
    _runtimes[driver or nonebot.get_driver()] = runtime


def current_runtime(driver: Driver | None = None) -> Runtime:
    try:
        return _runtimes[driver or nonebot.get_driver()]
    except KeyError:
        raise RuntimeError("gridbot runtime not installed on this driver") from None


def _runtime_dep() -> Runtime:
    return current_runtime()


RuntimeDep = Depends(_runtime_dep)
