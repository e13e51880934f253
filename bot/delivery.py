"""The delivery seam: "send this rendered text, with these @-mentions, to stored
group G / to account A", on whatever adapter carries that platform.

Replies go straight back on the bot that received the event. Pushes address a
stored `ChatGroup` or an account; the bot is looked up among the connected
ones, never by a hard-coded id. The paced outbox sits behind `to_group` /
`to_account` in a later step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import nonebot
from nonebot.adapters import Bot, Event

from bot.platforms import (
    Mention,
    build_message,
    group_of,
    platform_of,
    send_to_group,
    send_to_user,
    split_account,
)
from storage.models import ChatGroup

MAX_MENTIONS_PER_MESSAGE = 20


class DeliveryUnavailable(RuntimeError):
    """No connected bot can carry this message right now."""


def chunk_mentions(mentions: Iterable[Mention], size: int = MAX_MENTIONS_PER_MESSAGE):
    batch: list[Mention] = []
    for m in mentions:
        batch.append(m)
        if len(batch) == size:
            yield tuple(batch)
            batch = []
    if batch:
        yield tuple(batch)


class Delivery:
    def __init__(self, bots: Callable[[], Mapping[str, Bot]] = nonebot.get_bots) -> None:
        self._bots = bots

    async def reply(
        self, bot: Bot, event: Event, text: str, mentions: Iterable[Mention] = ()
    ) -> None:
        """Answer in the chat the event came from (group or private)."""
        mentions = tuple(mentions)
        group_id = group_of(bot, event)
        batches = list(chunk_mentions(mentions)) or [()]
        for batch in batches:
            message = build_message(bot, text, batch)
            if group_id is None:
                await bot.send(event, message)
            else:
                await send_to_group(bot, group_id, message)

    def bot_for(self, platform: str, bot_id: str = "") -> Bot:
        bots = self._bots()
        if bot_id and bot_id in bots and platform_of(bots[bot_id]) == platform:
            return bots[bot_id]
        for bot in bots.values():
            if platform_of(bot) == platform:
                return bot
        raise DeliveryUnavailable(f"no connected {platform} bot")

    async def to_group(
        self, group: ChatGroup, text: str, mentions: Iterable[Mention] = ()
    ) -> list[Any]:
        bot = self.bot_for(group.platform, group.bot_id)
        results = []
        for batch in list(chunk_mentions(tuple(mentions))) or [()]:
            results.append(
                await send_to_group(bot, group.group_id, build_message(bot, text, batch))
            )
        return results

    async def to_account(self, account: str, text: str) -> Any:
        platform, uid = split_account(account)
        bot = self.bot_for(platform)
        return await send_to_user(bot, uid, build_message(bot, text))
