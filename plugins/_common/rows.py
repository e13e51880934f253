"""Small row lookups that every plugin's service writes the same way.

Plain async functions over a session; no bot, no templates.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlmodel import SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

M = TypeVar("M", bound=SQLModel)


async def first_where(session: AsyncSession, model: type[M], *conditions: Any) -> M | None:
    """The first row of ``model`` that meets every condition, or None."""
    return (await session.exec(select(model).where(*conditions))).first()


async def in_state(session: AsyncSession, model: type[M], ident: int, state: str) -> M | None:
    """The row of ``model`` with this id, if it is (still) in ``state``; else None."""
    row = await session.get(model, ident)
    return row if row is not None and getattr(row, "state", None) == state else None
