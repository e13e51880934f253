"""The delivery seam: "send this rendered text, with these @-mentions, to stored
group G / to account A", on whatever adapter carries that platform.

Replies go straight back on the bot that received the event. Pushes address a
stored `ChatGroup` or an account; the bot is looked up among the connected
ones, never by a hard-coded id. The paced outbox sits behind `to_group` /
`to_account` in a later step.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

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
    upload_to_user,
)
from bot.transport import MAX_MENTIONS_PER_MESSAGE, NotSent, SendFailed, chunk_mentions
from storage.models import ChatGroup
from storage.models_outbox import OutboxItem

if TYPE_CHECKING:
    from sqlmodel.ext.asyncio.session import AsyncSession

    from bot.outbox import Outbox

T = TypeVar("T")


class DeliveryUnavailable(RuntimeError):
    """No connected bot can carry this message right now."""


def batch_by_mentions(
    entries: Iterable[tuple[T, Iterable[Mention]]], limit: int = MAX_MENTIONS_PER_MESSAGE
) -> list[tuple[list[T], list[Mention]]]:
    """Cut (item, its leaders) pairs into messages of at most `limit` distinct
    @-mentions, so every message lists exactly the items whose leaders it mentions."""
    out: list[tuple[list[T], list[Mention]]] = []
    items: list[T] = []
    mentions: list[Mention] = []
    for item, wanted in entries:
        wanted = list(dict.fromkeys(wanted))
        new = [m for m in wanted if m not in mentions]
        if items and len(mentions) + len(new) > limit:
            out.append((items, mentions))
            items, mentions, new = [], [], wanted
        items.append(item)
        mentions.extend(new)
    if items:
        out.append((items, mentions))
    return out


class Delivery:
    def __init__(self, bots: Callable[[], Mapping[str, Bot]] = nonebot.get_bots) -> None:
        self._bots = bots
        self.outbox: Outbox | None = None

    def attach(self, outbox: Outbox) -> None:
        """From now on pushes go through the paced outbox."""
        self.outbox = outbox

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

    def bot_for(self, platform: str, bot_id: str = "", exclude: str = "") -> Bot:
        bots = self._bots()
        if bot_id and bot_id in bots and platform_of(bots[bot_id]) == platform:
            return bots[bot_id]
        for bot in bots.values():
            if platform_of(bot) == platform and bot.self_id != exclude:
                return bot
        raise DeliveryUnavailable(f"no connected {platform} bot")

    async def to_group(
        self,
        group: ChatGroup,
        text: str,
        mentions: Iterable[Mention] = (),
        *,
        session: AsyncSession | None = None,
        source: str = "",
        priority: int = 0,
        not_before: datetime | None = None,
    ) -> list[Any]:
        """Push to a stored group: queued in the outbox (in `session`'s transaction
        when given, else in its own), or sent at once when no outbox is attached."""
        mentions = tuple(mentions)
        if self.outbox is None:
            return await self.send_group_now(group.platform, group.bot_id, group.group_id,
                                              text, mentions)
        kind, target = ("webhook", group.webhook_url) if group.webhook_url else (
            "group", group.group_id)
        return await self._enqueue(
            session, platform=group.platform, bot_id=group.bot_id, target_kind=kind,
            target=target, chat_group_id=group.id, text=text,
            mentions=[(m.account, m.name) for m in mentions], source=source,
            priority=priority, not_before=not_before,
        )

    async def to_account(
        self,
        account: str,
        text: str,
        *,
        session: AsyncSession | None = None,
        source: str = "",
        priority: int = 0,
    ) -> Any:
        """Push privately to an account (through the outbox when attached)."""
        platform, _ = split_account(account)
        if self.outbox is None:
            return await self.send_account_now(account, text)
        return await self._enqueue(
            session, platform=platform, target_kind="account", target=account, text=text,
            source=source, priority=priority,
        )

    async def _enqueue(self, session: AsyncSession | None, **fields: Any) -> list[OutboxItem]:
        assert self.outbox is not None
        if session is not None:
            items = await self.outbox.enqueue(session, **fields)
            _notify_after_commit(session, self.outbox)
            return items
        async with self.outbox.db.write() as own:
            items = await self.outbox.enqueue(own, **fields)
        self.outbox.notify()
        return items

    async def send_group_now(
        self, platform: str, bot_id: str, group_id: str, text: str,
        mentions: tuple[Mention, ...] = (),
    ) -> list[Any]:
        bot = self.bot_for(platform, bot_id)
        results = []
        for batch in list(chunk_mentions(mentions)) or [()]:
            results.append(await send_to_group(bot, group_id, build_message(bot, text, batch)))
        return results

    async def file_to_account(self, account: str, data: bytes, name: str) -> bool:
        """A file sent privately at once (not paced: it answers the person's own
        command), where the platform can; False where it cannot."""
        platform, uid = split_account(account)
        return await upload_to_user(self.bot_for(platform), uid, data, name)

    async def send_account_now(self, account: str, text: str, exclude_bot: str = "") -> Any:
        platform, uid = split_account(account)
        bot = self.bot_for(platform, exclude=exclude_bot)
        return await send_to_user(bot, uid, build_message(bot, text))


def _notify_after_commit(session: AsyncSession, outbox: Outbox) -> None:
    from sqlalchemy import event

    loop = asyncio.get_running_loop()

    def _after_commit(_session: Any) -> None:
        loop.call_soon(outbox.notify)

    event.listen(session.sync_session, "after_commit", _after_commit, once=True)


class DeliveryTransport:
    """How the outbox reaches the platforms: through the connected NoneBot bots."""

    def __init__(self, delivery: Delivery, webhook: Any = None) -> None:
        self.delivery = delivery
        self.webhook = webhook

    async def send(self, item: OutboxItem) -> None:
        from nonebot.exception import ActionFailed, ApiNotAvailable


        if item.target_kind == "webhook":
            if self.webhook is None:
                raise SendFailed(None, "no webhook channel configured")
            await self.webhook.send(item)
            return
        mentions = tuple(Mention(a, n) for a, n in json.loads(item.mentions))
        try:
            bot = self.bot_for_item(item)
        except DeliveryUnavailable as err:
            raise NotSent(str(err)) from err
        message = build_message(bot, item.text, mentions)
        try:
            if item.target_kind == "group":
                await send_to_group(bot, item.target, message)
            else:
                await send_to_user(bot, split_account(item.target)[1], message)
        except ApiNotAvailable as err:  # raised before anything is written to the socket
            raise NotSent(str(err)) from err
        except ActionFailed as err:
            info = getattr(err, "info", None) or {}
            raise SendFailed(info.get("retcode"), str(info.get("message", err))) from err

    def ready(self, item: OutboxItem) -> bool:
        """Whether a send could start now (its bot is connected), checked before the
        row is claimed: a row marked sending with nobody to send it would turn
        unknown (never resent) if the process died in that gap."""
        if item.target_kind == "webhook":
            return self.webhook is not None
        try:
            self.bot_for_item(item)
        except DeliveryUnavailable:
            return False
        return True

    def bot_for_item(self, item: OutboxItem) -> Bot:
        if item.bot_id:
            # A queue belongs to one account: never switch a group's sender silently.
            bots = self.delivery._bots()
            bot = bots.get(item.bot_id)
            if bot is None or platform_of(bot) != item.platform:
                raise DeliveryUnavailable(f"bot {item.platform}:{item.bot_id} not connected")
            return bot
        return self.delivery.bot_for(item.platform)
