"""What each quarantine command does, from its argument text to what is said.

Both commands run in a private chat only: typed in a group they answer
``common/private_only`` whoever asks, before anything is parsed, checked or
written. A fever or symptoms alert is queued in the outbox in the transaction
that records the check; reminders are armed (or disarmed) after the commit.
"""

from __future__ import annotations

from bot.kit import Out, Outcome, Sender, refusal
from bot.runtime import Runtime
from plugins._common.lookups import standing_of as _who
from plugins.quarantine import service, syntax
from plugins.quarantine.service import QuarantineError
from storage import places
from storage.repo import ScopeError


def _private_only(sender: Sender) -> Outcome | None:
    """Private chat only (the router already answers a group; a flow called
    directly keeps the rule too)."""
    return Outcome([Out("common/private_only")]) if not sender.private else None


# --- /隔离 -----------------------------------------------------------------------------------


async def quarantine_cmd(rt: Runtime, sender: Sender, text: str) -> Outcome:
    if (refused := _private_only(sender)) is not None:
        return refused
    now = rt.now()
    parsed = syntax.parse_quarantine(text, now)
    if parsed is None:
        return Outcome([Out("usage/quarantine")])
    who = await _who(rt, sender)
    try:
        if isinstance(parsed, syntax.ListEntries):
            async with rt.db.read() as s:
                listing = await service.list_entries(
                    s, who, now, same_temp_days=rt.settings.signal_same_temp_days)
            return Outcome([Out("quarantine/list", {"listing": listing})])
        if isinstance(parsed, syntax.Release):
            async with rt.db.write() as s:
                released = await service.release(s, who=who, number=parsed.number, now=now)
            if rt.scheduler is not None:
                rt.scheduler.disarm(released.cancelled)
            return Outcome([Out("quarantine/released", {"r": released})])
        minute = service.check_minute(rt.settings)
        async with rt.db.write() as s:
            registered = await service.register(s, who=who, args=parsed, now=now, minute=minute)
        if rt.scheduler is not None:  # else the next start's rebuild arms them
            for item in registered.items:
                rt.scheduler.arm(item)
        return Outcome([Out("quarantine/registered", {
            "r": registered, "time": f"{minute // 60:02d}:{minute % 60:02d}",
        })])
    except (QuarantineError, ScopeError) as err:
        return refusal(err)


# --- /健康 -----------------------------------------------------------------------------------


async def health_cmd(rt: Runtime, sender: Sender, text: str) -> Outcome:
    if (refused := _private_only(sender)) is not None:
        return refused
    threshold = service.fever_centi(rt.settings)
    parsed = syntax.parse_health(text)
    if parsed is None:
        return Outcome([Out("usage/health", {"threshold": syntax.fmt_temp(threshold)})])
    who = await _who(rt, sender)
    try:
        async with rt.db.write() as s:
            checked = await service.record_health(
                s, who=who, number=parsed.number, temp_centi=parsed.temp_centi,
                symptoms=parsed.symptoms, now=rt.now(), threshold=threshold,
            )
            if checked.abnormal:
                # Queued with the record itself: the alert cannot be lost after the commit.
                # Symptoms are free text: the team's group hears that there are some,
                # its members read them privately.
                in_group = rt.renderer.render("quarantine/health_alert", c=checked, private=False)
                private = rt.renderer.render("quarantine/health_alert", c=checked, private=True)
                source = f"quarantine:{checked.entry.id}"
                for group in checked.alert_groups:
                    await rt.delivery.to_group(
                        group, in_group, session=s, source=source, priority=1
                    )
                accounts = checked.alert_accounts
                if checked.symptoms and checked.alert_groups:
                    accounts = await places.team_accounts(s, service.ALERT_TEAM)
                for account in accounts:
                    await rt.delivery.to_account(
                        account, private, session=s, source=source, priority=1
                    )
    except QuarantineError as err:
        return refusal(err)
    return Outcome([Out("quarantine/health_ok", {"c": checked})])
