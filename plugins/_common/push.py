"""Pushing one rendered text to ``Targets`` through the paced outbox.

Always inside the caller's write transaction (``session``), so what a handler
records and what it sends commit together: a crash cannot send without
recording, nor record without sending.
"""

from __future__ import annotations

import logging

from sqlmodel.ext.asyncio.session import AsyncSession

from bot.runtime import Runtime
from plugins._common.targets import Targets

log = logging.getLogger("gridbot.reminders")


async def push(
    rt: Runtime, session: AsyncSession, to: Targets, text: str, *, source: str,
    priority: int = 1, fallback_superusers: bool = True,
) -> int:
    """Send to every group and account of ``to`` (a team without a bound group is
    told privately); with nobody at all, to the superusers: an escalation
    nobody hears is worse than one heard by the operators."""
    accounts = list(to.accounts)
    if not to.groups and not accounts and fallback_superusers:
        accounts = sorted(rt.settings.superusers)
    for group in to.groups:
        await rt.delivery.to_group(group, text, session=session, source=source, priority=priority)
    for account in accounts:
        await rt.delivery.to_account(
            account, text, session=session, source=source, priority=priority
        )
    if not to.groups and not accounts:
        log.error("%s: nobody to tell", source)
    return len(to.groups) + len(accounts)
