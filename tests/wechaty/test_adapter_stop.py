"""The adapter's stop() ends its reconnecting supervisor, whatever the connection
does with the cancel (no gateway needed: the connection is the test's)."""

from __future__ import annotations

import asyncio
from typing import Any

import nonebot

from bot.adapters.wechaty import Adapter
from bot.adapters.wechaty.config import Config


class _CancelTurnsIntoError(Adapter):
    """A connection that, cancelled, fails with an error of its own (as a stream being
    torn down can): the supervisor must not take it for a lost connection and retry."""

    inside: asyncio.Event

    async def _run_connection(self, conn: Any, cfg: Config, *, take_over: bool) -> None:
        self.inside.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            raise OSError("stream reset while closing") from None


async def test_stop_ends_the_supervisor_even_when_the_cancel_meets_an_error() -> None:
    adapter = _CancelTurnsIntoError(nonebot.get_driver())
    adapter.inside = asyncio.Event()
    config = Config(wechaty_endpoint="127.0.0.1:9", wechaty_token="token",
                    wechaty_reconnect_min_seconds=0.05)
    await adapter.start(config)
    supervisor = adapter._supervisor
    stopping: asyncio.Task | None = None
    try:
        await asyncio.wait_for(adapter.inside.wait(), 5)
        stopping = asyncio.create_task(adapter.stop())
        done, _ = await asyncio.wait({stopping}, timeout=5)  # (asyncio.wait cancels nothing)
        assert stopping in done and stopping.exception() is None  # before: it retried
        assert supervisor is not None and supervisor.done() and adapter.connect_attempts == 1
    finally:
        for task in (supervisor, stopping):
            if task is not None:
                task.cancel()
