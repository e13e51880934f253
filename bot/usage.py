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

from sqlalchemy import DateTime, bindparam, text
from sqlmodel import col, select

from ground.timeutil import as_utc
from storage.db import Database
from storage.models import CommandUse

FLUSH_EVERY = 200
# One statement for all pending counts (an upsert both SQLite and PostgreSQL take):
# the flush holds the write lock for one round trip, not one per account.
_UPSERT = text(
    "INSERT INTO commanduse (account, command, uses, last_used) VALUES (:a, :c, :n, :t) "
    "ON CONFLICT (account, command) DO UPDATE SET uses = commanduse.uses + excluded.uses, "
    "last_used = excluded.last_used"
).bindparams(bindparam("t", type_=DateTime()))


class UsageCounter:
    def __init__(self) -> None:
        self._pending: Counter[tuple[str, str]] = Counter()
        self._noted = 0  # uses since the last flush (a sum of _pending, kept: hot path)

    def note(self, account: str, command: str) -> bool:
        """One use; True when enough are pending to be worth a flush."""
        self._pending[(account, command)] += 1
        self._noted += 1
        return self._noted >= FLUSH_EVERY

    async def flush(self, db: Database, now: datetime) -> None:
        if not self._pending:
            return
        pending, self._pending, self._noted = self._pending, Counter(), 0
        at = as_utc(now)
        rows = [{"a": a, "c": c, "n": n, "t": at}
                for (a, c), n in pending.items()]
        async with db.write() as s:
            await (await s.connection()).execute(_UPSERT, rows)

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
