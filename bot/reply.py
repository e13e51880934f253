"""Helpers for matchers: render a template and answer through the delivery seam."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from nonebot.adapters import Bot, Event

from bot.platforms import Mention
from bot.runtime import current_runtime


async def reply_template(
    bot: Bot, event: Event, template: str, mentions: Iterable[Mention] = (), **context: Any
) -> str:
    runtime = current_runtime()
    text = runtime.renderer.render(template, **context)
    await runtime.delivery.reply(bot, event, text, mentions)
    return text
