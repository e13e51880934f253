"""What the trigger-chain commands do, from their argument text to what is said.

``/预警`` queues its notices to the work groups and the 综合协调组 in the write
transaction that starts the chain; ``/收到`` queues the all-acknowledged notice in
the transaction of the last acknowledgement. The scheduler is armed (or
disarmed) after the commit.
"""

from __future__ import annotations

from bot.kit import Out, Outcome, Sender, refusal, usage
from bot.runtime import Runtime
from plugins._common import targets
from plugins._common.lookups import origin_group as _origin
from plugins.alerts import jobs, service
from plugins.alerts.service import AlertError
from storage.places import bound_team_groups

# --- /预警 -----------------------------------------------------------------------------------


async def alert_cmd(rt: Runtime, sender: Sender, text: str) -> Outcome:
    region = service.parse_region(text)
    if region is None:
        return usage("alert")
    origin = await _origin(rt, sender)
    try:
        async with rt.db.write() as s:
            started = await service.start(s, actor=sender.account, region=region, now=rt.now())
            source = jobs.source(started.alert.id)  # type: ignore[arg-type]
            notice = rt.renderer.render("alerts/notice", st=started, work=True)
            for group in started.groups:
                await rt.delivery.to_group(group, notice, session=s, source=source, priority=1)
            info = rt.renderer.render("alerts/notice", st=started, work=False)
            for group in await bound_team_groups(s, targets.COORDINATION_TEAM):
                if origin is None or group.id != origin.id:  # the reply says it there
                    await rt.delivery.to_group(group, info, session=s, source=source, priority=1)
    except AlertError as err:
        return refusal(err)
    if rt.scheduler is not None:  # else the next start's rebuild arms them
        for item in started.items:
            rt.scheduler.arm(item)
    return Outcome([Out("alerts/started", {"st": started})])


# --- /收到 -----------------------------------------------------------------------------------


async def ack_cmd(rt: Runtime, sender: Sender, text: str) -> Outcome:
    number = service.parse_number(text)
    if number is None:
        return usage("alert_ack")
    origin = await _origin(rt, sender)
    try:
        async with rt.db.write() as s:
            acked = await service.acknowledge(
                s, group=origin, number=number, account=sender.account, now=rt.now(),
            )
            if acked.remaining == 0:
                done = rt.renderer.render("alerts/all_acked", a=acked.alert, total=acked.total)
                for group in await bound_team_groups(s, targets.COORDINATION_TEAM):
                    await rt.delivery.to_group(
                        group, done, session=s, source=jobs.source(acked.alert.id),  # type: ignore[arg-type]
                    )
    except AlertError as err:
        return refusal(err)
    if rt.scheduler is not None:
        rt.scheduler.disarm(acked.cancelled)
    return Outcome([Out("alerts/acked", {"k": acked})])
