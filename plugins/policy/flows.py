"""What each policy command does, from its argument text to what is said.

A publication and its pushes to work and resident groups are queued in the
outbox in one transaction (``notify.push_published``); its study reminder is
armed after the commit.
"""

from __future__ import annotations

from bot.kit import Out, Outcome, Sender, refusal, usage
from bot.permissions import STAFF_PERM
from bot.runtime import Runtime
from plugins.policy import notify, service
from plugins.policy.service import PolicyArgs, PolicyError


async def _in_resident_group(rt: Runtime, sender: Sender) -> bool:
    """Full texts and staff names never go to a resident group (DESIGN.md §4)."""
    if sender.group_id is None:
        return False
    # The directory the router just read the binding from (in memory), not a session.
    group = (await rt.db.directory.current()).binding(sender.platform, sender.group_id)
    return group is not None and group.kind == "resident"


async def _publish(rt: Runtime, sender: Sender, args: PolicyArgs) -> Outcome:
    if not await sender.allowed(STAFF_PERM):  # leaders may read, only staff publish
        return Outcome([Out("common/refused")])
    async with rt.db.write() as s:
        pub = await service.publish(
            s, actor=sender.account, title=args.title, body=args.body,
            now=rt.now(), remind_hours=rt.settings.policy_remind_hours,
            quiet=rt.settings.quiet_hours,
        )
        await notify.push_published(rt, s, pub)
    if rt.scheduler is not None:  # else the next start's rebuild arms it
        rt.scheduler.arm(pub.remind)
    return Outcome([Out("policy/published", {"pub": pub})])


async def _public(rt: Runtime, args: PolicyArgs) -> Outcome:
    """In a resident group: the notices as that group received them (title and
    date, never the body, never who published), and nothing is published there."""
    if args.action == "publish":
        return refusal(PolicyError("resident_group"))
    async with rt.db.read() as s:
        if args.action == "list":
            policies = await service.latest_policies(s)
            return Outcome([Out("policy/public_list", {"policies": policies})])
        try:
            policy = await service.get_policy(s, args.number)
        except PolicyError as err:
            return refusal(err)
    return Outcome([Out("policy/notice", {"p": policy})])


async def policy_cmd(rt: Runtime, sender: Sender, text: str) -> Outcome:
    parsed = service.parse_args(text)
    if parsed is None:
        return usage("policy")
    if await _in_resident_group(rt, sender):
        return await _public(rt, parsed)
    try:
        if parsed.action == "publish":
            return await _publish(rt, sender, parsed)
        async with rt.db.read() as s:
            if parsed.action == "list":
                policies = await service.latest_policies(s)
                return Outcome([Out("policy/list", {"policies": policies})])
            policy = await service.get_policy(s, parsed.number)
            newer = await service.newer_version(s, policy)
    except PolicyError as err:
        return refusal(err)
    return Outcome([Out("policy/show", {"p": policy, "newer": newer})])


async def studied_cmd(rt: Runtime, sender: Sender, text: str) -> Outcome:
    number = service.parse_number(text)
    if number is None:
        return usage("studied")
    try:
        async with rt.db.write() as s:
            done = await service.mark_studied(
                s, account=sender.account, number=number, now=rt.now()
            )
    except PolicyError as err:
        return refusal(err)
    return Outcome([Out("policy/studied", {"d": done})])


async def status_cmd(rt: Runtime, sender: Sender, text: str) -> Outcome:
    number = service.parse_number(text)
    if number is None:
        return usage("study_status")
    try:
        if await _in_resident_group(rt, sender):
            raise PolicyError("resident_group")
        async with rt.db.read() as s:
            status = await service.study_status(s, number, rt.now())
    except PolicyError as err:
        return refusal(err)
    return Outcome([Out("policy/status", {"st": status, "reminder": False})])
