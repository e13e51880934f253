"""Commands held back for ``/确认``: a question before something that is easy to do
by accident and hard to undo.

A flow that wants to ask first (a second round with the same title within 10
minutes, ``/结束`` with units unreported) stores what it needs in a ``PendingAsk``
row with ``hold`` and answers with its question. ``/确认`` without a number then
runs the sender's only pending item, in the chat where it was asked; ``/确认 发起``
names one kind when there are several, and ``/取消`` drops it. A plugin declares its
kinds once, in ``PluginMetadata.extra["asks"]``:

    Ask("round_open", "发起", "checkin/ask_line", run=flows.open_confirmed)

``run(rt, sender, payload)`` does the held-back command without asking again.
An ask is taken (deleted) in the transaction before it runs, so a double
``/确认`` runs it once; after ``ASK_TTL`` it is gone.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.kit import Outcome, Sender
from ground.timeutil import as_utc
from storage.models import PendingAsk

if TYPE_CHECKING:
    from bot.runtime import Runtime

ASK_TTL = timedelta(minutes=10)


@dataclass(frozen=True)
class Ask:
    """One kind of held-back command."""

    kind: str
    word: str  # names it after /确认 or /取消 when several are pending
    line: str  # template of its line in the list of pending items (reads ``p``)
    run: Callable[[Runtime, Sender, dict[str, Any]], Awaitable[Outcome]]


@dataclass(frozen=True)
class Held:
    id: int
    ask: Ask
    payload: dict[str, Any]


def chat_of(sender: Sender) -> str:
    where = f"group:{sender.group_id}" if sender.group_id is not None else "private"
    return f"{sender.platform}:{where}"


def declared_asks() -> dict[str, Ask]:
    """Every loaded plugin's ``extra["asks"]``, by kind."""
    import nonebot

    found: dict[str, Ask] = {}
    for plugin in nonebot.get_loaded_plugins():
        meta = plugin.metadata
        if meta and isinstance(meta.extra, dict):
            found.update({a.kind: a for a in meta.extra.get("asks", ())})
    return found


async def hold(
    session: AsyncSession, sender: Sender, kind: str, payload: dict[str, Any], now: datetime,
) -> None:
    """Ask before running ``kind``: replaces the sender's earlier ask of that kind here."""
    now = as_utc(now)
    await session.exec(delete(PendingAsk).where(  # type: ignore[call-overload]
        col(PendingAsk.account) == sender.account,
        (col(PendingAsk.expires_at) <= now) | (
            (col(PendingAsk.chat) == chat_of(sender)) & (col(PendingAsk.kind) == kind)),
    ))
    session.add(PendingAsk(
        account=sender.account, chat=chat_of(sender), kind=kind,
        payload=json.dumps(payload, ensure_ascii=False), created_at=now,
        expires_at=now + ASK_TTL,
    ))


async def held(session: AsyncSession, sender: Sender, now: datetime) -> list[Held]:
    """The sender's pending asks in this chat, oldest first (expired ones are not)."""
    asks = declared_asks()
    rows = (await session.exec(
        select(PendingAsk).where(
            col(PendingAsk.account) == sender.account, col(PendingAsk.chat) == chat_of(sender),
            col(PendingAsk.expires_at) > as_utc(now),
        ).order_by(col(PendingAsk.id))
    )).all()
    return [Held(r.id, asks[r.kind], json.loads(r.payload))  # type: ignore[arg-type]
            for r in rows if r.kind in asks]


async def take(session: AsyncSession, ask_id: int) -> bool:
    """Remove an ask; False when it was already taken (a second /确认)."""
    result = await session.exec(  # type: ignore[call-overload]
        delete(PendingAsk).where(col(PendingAsk.id) == ask_id))
    return bool(result.rowcount)
