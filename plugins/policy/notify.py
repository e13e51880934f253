"""What the policy capability pushes: the full text to work groups, a short notice
(never the body) to resident groups, private reminders and the study status.

Everything is written to the outbox inside the caller's transaction, so a
publication and its deliveries commit together or not at all.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.runtime import Runtime
from plugins.policy import service
from plugins.policy.service import Published, StudyStatus
from storage.models_publicity import Policy
from storage.places import bound_team_groups

log = logging.getLogger("gridbot.policy")


def source(policy: Policy) -> str:
    return f"policy:{policy.id}"


async def push_published(rt: Runtime, session: AsyncSession, pub: Published) -> None:
    full = rt.renderer.render("policy/full", p=pub.policy)
    for group in pub.work_groups:
        await rt.delivery.to_group(group, full, session=session, source=source(pub.policy))
    notice = rt.renderer.render("policy/notice", p=pub.policy)
    for group in pub.resident_groups:
        await rt.delivery.to_group(
            group, notice, session=session, source=source(pub.policy),
            not_before=pub.notice_held_until,
        )


async def push_reminders(
    rt: Runtime, session: AsyncSession, policy: Policy, now: datetime
) -> StudyStatus:
    """Remind, privately, each staff member who has not studied `policy`; show the
    综合协调组 the status (staff names are fine in a team group, DESIGN.md §4)."""
    assert policy.id is not None
    status = await service.study_status(session, policy.id, now)
    text = rt.renderer.render("policy/remind", p=policy)
    for member in status.pending:
        for account in member.accounts:
            await rt.delivery.to_account(account, text, session=session, source=source(policy))
    groups = await bound_team_groups(session, service.COORDINATION_TEAM)
    if not groups:
        log.warning("policy #%s: no %s group bound for the study status",
                    policy.id, service.COORDINATION_TEAM)
    report = rt.renderer.render("policy/status", st=status, reminder=True)
    for group in groups:
        await rt.delivery.to_group(group, report, session=session, source=source(policy))
    return status
