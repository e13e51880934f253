"""Where deadline messages go: team groups, work groups, staff.

Shared by the three deadline plugins (reminders, alerts, assist); it lives in
``plugins._common`` so that none of them imports another.

Plain async functions over a session; no bot, no templates. The place-independent
parts (group levels, team members' accounts) come from ``storage.places``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import ChatGroup
from storage.places import bound_team_groups, broadest, team_accounts
from storage.repo import scope_label

COORDINATION_TEAM = "综合协调组"  # owns the trigger chain (DESIGN.md §1)
TRACING_TEAM = "流调组"  # owns 协查函


@dataclass
class Targets:
    """Groups to push to, and accounts to tell privately when no group is bound."""

    groups: list[ChatGroup] = field(default_factory=list)
    accounts: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.groups or self.accounts)

    def merged(self, other: Targets) -> Targets:
        seen = {g.id for g in self.groups}
        groups = self.groups + [g for g in other.groups if g.id not in seen]
        accounts = list(dict.fromkeys(self.accounts + other.accounts))
        return Targets(groups, accounts)


async def work_groups(session: AsyncSession) -> list[ChatGroup]:
    rows = await session.exec(
        select(ChatGroup).where(ChatGroup.kind == "work").order_by(ChatGroup.id)
    )
    return list(rows.all())


async def broadest_work_groups(session: AsyncSession) -> list[ChatGroup]:
    """The work groups at the broadest bound level (the street's or communities')."""
    return broadest(await work_groups(session))


async def team(session: AsyncSession, name: str) -> Targets:
    """A working group: its bound team group(s), else its members privately."""
    groups = await bound_team_groups(session, name)
    if groups:
        return Targets(groups)
    return Targets(accounts=await team_accounts(session, name))


async def staff(session: AsyncSession) -> Targets:
    """Staff as a whole: the 综合协调组, else the broadest work groups, else its
    members privately."""
    groups = await bound_team_groups(session, COORDINATION_TEAM)
    if groups:
        return Targets(groups)
    groups = await broadest_work_groups(session)
    if groups:
        return Targets(groups)
    return Targets(accounts=await team_accounts(session, COORDINATION_TEAM))


async def group_label(session: AsyncSession, group: ChatGroup) -> str:
    """How people name a bound group: 幸福社区/第一网格 工作群, 流调组."""
    if group.kind == "team":
        return group.team or "工作组群"
    label = await scope_label(session, group.scope_kind, group.scope_id)
    return f"{label} 工作群" if group.kind == "work" else label
