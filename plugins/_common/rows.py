"""Small row lookups that every plugin's service writes the same way.

Plain async functions over a session; no bot, no templates.
"""

from __future__ import annotations

from typing import TypeVar

from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.repo import first_where

M = TypeVar("M", bound=SQLModel)
__all__ = ["first_where", "in_state"]


async def in_state(session: AsyncSession, model: type[M], ident: int, state: str) -> M | None:
    """The row of ``model`` with this id, if it is (still) in ``state``; else None."""
    row = await session.get(model, ident)
    return row if row is not None and getattr(row, "state", None) == state else None
