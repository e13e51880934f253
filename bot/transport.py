"""What a send can come to, between the outbox and whatever carries the message.

Shared by ``bot.outbox`` (which records the outcome) and ``bot.delivery`` (which
talks to the platforms), so neither imports the other.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol, TypeVar

from storage.models_outbox import OutboxItem

MAX_MENTIONS_PER_MESSAGE = 20
T = TypeVar("T")


class NotSent(Exception):
    """The message certainly did not leave (no connected bot): try again later."""


class SendFailed(Exception):
    """The platform refused the message; `code` is its error code if any."""

    def __init__(self, code: int | None, message: str = "") -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class Transport(Protocol):
    async def send(self, item: OutboxItem) -> None: ...

    # Optional: ``ready(item) -> bool``, whether a send could start now.


def chunk_mentions(
    mentions: Iterable[T], size: int = MAX_MENTIONS_PER_MESSAGE
) -> Iterator[tuple[T, ...]]:
    """At most ``size`` mentions per message (platforms cap @ per message)."""
    batch: list[T] = []
    for m in mentions:
        batch.append(m)
        if len(batch) == size:
            yield tuple(batch)
            batch = []
    if batch:
        yield tuple(batch)
