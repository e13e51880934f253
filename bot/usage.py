"""How often each sender uses each command, so that ``/帮助`` shows their own
most-used commands first.

Counting must not cost the hot path a write: the router notes a use in memory
(``note``), and the counts reach the ``commanduse`` table in one transaction when
``/帮助`` is asked, every ``FLUSH_EVERY`` notes, and at shutdown. A crash loses at
most those few notes, which only reorders a help text.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select

from ground.timeutil import as_utc
from storage.db import Database
from storage.models import CommandUse

FLUSH_EVERY = 50


class UsageCounter:
    def __init__(self) -> None:
        self._pending: Counter[tuple[str, str]] = Counter()

    def note(self, account: str, command: str) -> bool:
        """One use; True when enough are pending to be worth a flush."""
        self._pending[(account, command)] += 1
        return sum(self._pending.values()) >= FLUSH_EVERY

    async def flush(self, db: Database, now: datetime) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, Counter()
        at = as_utc(now)
        async with db.write() as s:
            for (account, command), n in pending.items():
                # Update, else insert: portable, and race-free under the write lock.
                done = await s.exec(update(CommandUse).where(  # type: ignore[call-overload]
                    col(CommandUse.account) == account, col(CommandUse.command) == command,
                ).values(uses=CommandUse.uses + n, last_used=at))
                if not done.rowcount:
                    s.add(CommandUse(account=account, command=command, uses=n, last_used=at))

    async def most_used(
        self, db: Database, account: str, now: datetime, limit: int = 5,
    ) -> list[str]:
        """The account's commands, most used first (then the latest used)."""
        await self.flush(db, now)
        async with db.read() as s:
            rows = await s.exec(
                select(CommandUse.command).where(col(CommandUse.account) == account)
                .order_by(col(CommandUse.uses).desc(), col(CommandUse.last_used).desc())
                .limit(limit)
            )
            return list(rows.all())
