"""What handlers and jobs need, built once at start and handed to NoneBot's driver.

Handlers get it through the `RuntimeDep` dependency; tests build their own
Runtime (own database file, own settings) and install it the same way.
"""

from __future__ import annotations

import weakref
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import nonebot
from nonebot.drivers import Driver
from nonebot.params import Depends

from bot.clock import Now, system_now
from bot.delivery import Delivery
from bot.settings import Settings
from bot.usage import UsageCounter
from messages.render import Renderer
from storage.db import Database

if TYPE_CHECKING:
    from bot.outbox import Outbox
    from bot.scheduler import Scheduler


class Runtime:
    # A plain class, not a dataclass: NoneBot builds a pydantic schema for
    # dependency annotations and would recurse into a dataclass's fields.
    def __init__(
        self,
        settings: Settings,
        db: Database,
        delivery: Delivery | None = None,
        renderer: Renderer | None = None,
        clock: Now = system_now,
    ) -> None:
        self.settings = settings
        self.db = db
        self.delivery = delivery or Delivery()
        self.renderer = renderer or Renderer()
        self.clock = clock
        self.scheduler: Scheduler | None = None  # set by bot.app.setup once it exists
        self.outbox: Outbox | None = None  # the paced outbox, attached by bot.app
        self.usage = UsageCounter()  # who uses which command, for /帮助

    def now(self) -> datetime:
        """Now on the runtime clock (Asia/Shanghai): the only "now" handlers and jobs use."""
        return self.clock()

    def utcnow(self) -> datetime:
        return self.clock().astimezone(UTC)


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
