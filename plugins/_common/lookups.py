"""Where a command was typed and who typed it, looked up once for any flow."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.kit import Sender
from storage import places
from storage.models import ChatGroup
from storage.repo import group_binding

if TYPE_CHECKING:
    from bot.runtime import Runtime


async def origin_group(rt: Runtime, sender: Sender) -> ChatGroup | None:
    """The bound group the command was typed in (None in a private chat or an unbound group)."""
    if sender.group_id is None:
        return None
    async with rt.db.read() as s:
        return await group_binding(s, sender.platform, sender.group_id)


async def origin_base(rt: Runtime, sender: Sender) -> tuple[str, int] | None:
    """The scope of that group, for relative names (``3栋`` inside 幸福社区's group)."""
    group = await origin_group(rt, sender)
    return (group.scope_kind, group.scope_id) if group is not None else None


async def standing_of(rt: Runtime, sender: Sender) -> places.Standing:
    """The sender's roles and the units they lead, now."""
    async with rt.db.read() as s:
        return await places.standing(s, sender.account, rt.now(), superuser=sender.superuser)
