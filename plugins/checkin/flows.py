"""What each check-in command does, from its argument text to what is said.

A flow takes the runtime, the sender and the raw argument text, runs the
service inside one transaction and returns an ``Outcome``: replies (template +
context + mentions) and private messages to the sender. Matchers only deliver
it, so tests can drive a flow without a bot and render what it would have said.

Pushes to other groups (the 异常 alert, laggard reminders) are not part of the
outcome: a flow queues them in the outbox inside the write transaction that
decides them (``notify.queue``), so a crash right after the commit cannot lose
them.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from bot import asks
from bot.kit import Out, Outcome, Sender
from bot.platforms import Mention
from bot.runtime import Runtime
from ground.grammar import parse_when
from messages.mask import scrub
from plugins._common.lookups import origin_group as _binding
from plugins.checkin import export, notify, relay, service, spot, syntax, tally
from plugins.checkin.report import ParseError, Report, Withdraw, parse_report, parse_withdraw
from plugins.checkin.service import CheckinError
from storage import console as links
from storage import signals
from storage.models import ChatGroup, CheckinRound
from storage.places import Standing
from storage.repo import (
    ALL,
    Scope,
    ScopeError,
    audit,
    group_binding,
    resolve_scope,
    scope_label,
    valid_account,
)


def _usage(name: str, **context) -> Outcome:
    return Outcome([Out(f"usage/{name}", context)])


def _error(err: CheckinError | ScopeError) -> Outcome:
    if isinstance(err, ScopeError):
        return Outcome([Out("common/scope_error", {"code": err.code, "value": err.value})])
    return Outcome([Out("checkin/error", {"code": err.code, **err.context})])


async def _group_scope(rt: Runtime, group: ChatGroup | None) -> Scope:
    if group is None or group.scope_kind == "all":
        return ALL
    async with rt.db.read() as s:
        label = await scope_label(s, group.scope_kind, group.scope_id)
    return Scope(group.scope_kind, (group.scope_id,), label)


def _arm(rt: Runtime, items) -> None:
    if rt.scheduler is not None:
        for item in items:
            rt.scheduler.arm(item)


# --- /排查 -----------------------------------------------------------------------------------

# The same title and scope opened again within this long is asked about first.
TWIN_WINDOW = timedelta(minutes=10)
ASK_OPEN, ASK_CLOSE = "round_open", "round_close"


async def open_cmd(rt: Runtime, sender: Sender, text: str) -> Outcome:
    word, rest = syntax.split_subcommand(text)
    if word == "发起":
        return await _open_adhoc(rt, sender, rest)
    if word == "每天":
        return await _open_daily(rt, sender, rest)
    if word == "重排":
        return await _rescreen(rt, sender, rest)
    if not word and rest == "列表":
        return await _list_open(rt, sender)
    return _usage("checkin_open")


async def _list_open(rt: Runtime, sender: Sender) -> Outcome:
    """``/排查 列表``: the open rounds this chat is about, with their coverage."""
    async with rt.db.read() as s:
        group = await group_binding(s, sender.platform, sender.group_id)
        rounds = await service.open_rounds(s, group)
        rows = [(rnd, await tally.total(s, rnd.id)) for rnd in rounds]
    return Outcome([Out("checkin/open_list", {"rows": rows})])


async def _resolve(rt: Runtime, group: ChatGroup | None, expr) -> Scope:
    if expr is None:
        return await _group_scope(rt, group)
    base = (group.scope_kind, group.scope_id) if group is not None else None
    async with rt.db.read() as s:
        return await resolve_scope(s, expr, base)


async def _open_adhoc(
    rt: Runtime, sender: Sender, rest: str, confirmed: bool = False
) -> Outcome:
    args = syntax.parse_open(rest)
    now = rt.now()
    deadline = parse_when(args.when, now) if args else None
    if args is None or deadline is None:
        return _usage("checkin_open")
    group = await _binding(rt, sender)
    try:
        scope = await _resolve(rt, group, args.scope)
        async with rt.db.write() as s:
            twin = None if confirmed else await service.twin_of(
                s, args.title, scope, now, TWIN_WINDOW)
            if twin is not None:
                await asks.hold(s, sender, ASK_OPEN, {"text": rest, "title": args.title}, now)
                return Outcome([Out("checkin/ask_open", {"twin": twin, "now": now})])
            opened = await service.open_round(
                s, actor=sender.account, title=args.title, scope=scope,
                deadline=deadline, now=now,
            )
    except (CheckinError, ScopeError) as err:
        return _error(err)
    _arm(rt, opened.items)
    return Outcome([Out("checkin/opened", {"o": opened, "automatic": False})])


async def _rescreen(rt: Runtime, sender: Sender, rest: str) -> Outcome:
    """``/排查 重排 [#N] <单元或范围> [原因]``: reopen units in an open round and ask
    their leaders again, in the transaction that reopens them."""
    args = syntax.parse_rescreen(rest)
    if args is None:
        return _usage("checkin_open")
    now = rt.now()
    group = await _binding(rt, sender)
    try:
        rnd = await _round_for(rt, sender, syntax.RoundRef(args.round_no), open_only=True,
                               pick=False)
        scopes = [await _resolve(rt, group, expr) for expr in args.scopes]
        async with rt.db.write() as s:
            fresh = await s.get(CheckinRound, rnd.id)
            assert fresh is not None
            done = await service.rescreen(s, fresh, scopes, actor=sender.account,
                                          reason=args.reason, now=now)
            chase = await notify.chase(s, fresh, now, automatic=False,
                                       only=set(done.unit_ids), rescreen=True)
            await notify.queue(rt, s, chase.pushes, source=notify.source_of(rnd.id))
    except (CheckinError, ScopeError) as err:
        return _error(err)
    # The reason is free text: echoed only in a private chat.
    return Outcome([Out("checkin/rescreened", {
        "d": done, "groups": len({p.group.id for p in chase.pushes}),
        "reason": args.reason if sender.group_id is None else ""})])


async def open_confirmed(rt: Runtime, sender: Sender, payload: dict) -> Outcome:
    """``/确认`` after the twin question: the same command, opened this time."""
    return await _open_adhoc(rt, sender, payload["text"], confirmed=True)


async def _open_daily(rt: Runtime, sender: Sender, rest: str) -> Outcome:
    args = syntax.parse_daily(rest)
    if args is None:
        return _usage("checkin_open")
    now = rt.now()
    if isinstance(args, syntax.StopDaily):
        try:
            async with rt.db.write() as s:
                defn, cancelled = await service.stop_daily(s, args.number, actor=sender.account)
        except CheckinError as err:
            return _error(err)
        if rt.scheduler is not None:
            rt.scheduler.disarm(cancelled)
        return Outcome([Out("checkin/daily_stopped", {"d": defn})])
    group = await _binding(rt, sender)
    try:
        scope = await _resolve(rt, group, args.scope)
        async with rt.db.write() as s:
            defn, item = await service.create_daily(
                s, actor=sender.account, title=args.title, scope=scope,
                open_minute=args.open_minute, close_minute=args.close_minute, now=now,
            )
    except (CheckinError, ScopeError) as err:
        return _error(err)
    _arm(rt, [item])
    return Outcome([Out("checkin/daily_created", {"d": defn, "first": item.due_at})])


# --- /打卡 -----------------------------------------------------------------------------------


async def report_cmd(rt: Runtime, sender: Sender, text: str) -> Outcome:
    withdrawal = parse_withdraw(text)
    if withdrawal is not None:
        return await _withdraw(rt, sender, withdrawal)
    if not text.strip():
        return _usage("checkin_report")
    parsed = parse_report(text)
    if isinstance(parsed, ParseError):
        return Outcome([Out("checkin/report_error", {"e": parsed})])
    now = rt.now()
    try:
        # Who the sender is comes from the directory (in memory, checked against
        # the file); the round, the amendment and the new row are read and
        # written under one lock, so two leaders reporting the same unit at once
        # cannot both be "current".
        who = await _standing(rt, sender, now)
        async with rt.db.write() as s:
            result = await _record(rt, s, sender, who, parsed, now)
    except CheckinError as err:
        return _error(err)
    # In a busy work group the confirmation is addressed to the leader who sent it.
    mentions = (
        (Mention(sender.account, who.name or sender.account),) if sender.group_id else ()
    )
    return Outcome([Out(
        "checkin/report_ok", {"r": result, "private": sender.group_id is None}, mentions
    )])


async def _record(
    rt: Runtime, s, sender: Sender, who: Standing, parsed: Report, now: datetime,
) -> service.Submitted:
    """One check-in in the caller's write transaction, with what it sets off: the
    异常 and 拒访 alerts and the private 备注 commit with the report they are about."""
    result = await service.submit_report(
        s, who=who, report=parsed, now=now,
        group=lambda: group_binding(s, sender.platform, sender.group_id),
    )
    await notify.queue(
        rt, s, notify.abnormal_pushes(result), source=notify.source_of(result.round_id),
        priority=notify.ALERT_PRIORITY,
    )
    if result.note and sender.group_id is not None:
        await _note_to_staff(rt, s, result, who.name or sender.account)
    return result


# --- /接龙 -----------------------------------------------------------------------------------

_RELAY_ROUND = re.compile(r"^\s*[#＃]\s?([0-9]{1,7})(?![0-9])")


@dataclass
class RelayResult:
    new: int = 0
    amended: int = 0
    same: int = 0
    failed: list[tuple[relay.Item, str, dict]] = field(default_factory=list)  # item, why, ctx


async def relay_cmd(rt: Runtime, sender: Sender, text: str) -> Outcome:
    """``/接龙 [#N]`` or ``#接龙``, then numbered lines: each a /打卡 for its unit, in
    one transaction; a refused line writes nothing and does not stop the others,
    and posting the same list again records nothing new."""
    head, *lines = text.replace("\r\n", "\n").split("\n")
    # The first line is the round and a title, or (NoneBot strips the newline right
    # after the command) already the first item.
    found = relay.items([head, *lines])[: relay.MAX_ITEMS]
    if not found:
        return _usage("checkin_relay")
    m = _RELAY_ROUND.match(head)
    round_no = int(m.group(1)) if m else None
    now = rt.now()
    who = await _standing(rt, sender, now)
    done = RelayResult()
    seen: dict[str, int] = {}
    async with rt.db.write() as s:
        for item in found:
            parsed = item.report
            if isinstance(parsed, ParseError):
                done.failed.append((item, "parse", {"e": parsed}))
                continue
            if parsed.round_no is None and round_no is not None:
                parsed = replace(parsed, round_no=round_no)
            unit = str(parsed.unit) if parsed.unit is not None else ""
            if unit and unit in seen:
                done.failed.append((item, "twice", {"first": seen[unit]}))
                continue
            try:
                result = await _record(rt, s, sender, who, parsed, now)
            except CheckinError as err:
                done.failed.append((item, err.code, {"code": err.code, **err.context}))
                continue
            seen[unit or result.unit_label] = item.number
            if result.unchanged:
                done.same += 1
            elif result.previous is not None:
                done.amended += 1
            else:
                done.new += 1
    mentions = (
        (Mention(sender.account, who.name or sender.account),) if sender.group_id else ()
    )
    return Outcome([Out("checkin/relay_list", {"d": done}, mentions)])


# --- /抽查 /核实 ------------------------------------------------------------------------------


async def spot_cmd(rt: Runtime, sender: Sender, text: str) -> Outcome:
    """``/抽查 [#N] [数量]``: reported units drawn at random, each checker asked
    privately (through the outbox, in the transaction that records the checks)."""
    args = spot.parse_draw(text)
    if args is None:
        return _usage("checkin_spot")
    now = rt.now()
    try:
        rnd = await _round_for(rt, sender, syntax.RoundRef(args.round_no), open_only=True)
        async with rt.db.write() as s:
            fresh = await s.get(CheckinRound, rnd.id)
            assert fresh is not None
            flagged = await signals.flagged(s, fresh, signals.Thresholds.of(rt.settings))
            asked, nobody = await spot.draw(s, fresh, args.count, actor=sender.account,
                                            now=now, rng=_RANDOM, flagged=flagged)
            for a in asked:
                await rt.delivery.to_account(
                    a.check.checker, rt.renderer.render("checkin/spot_asked", a=a, rnd=fresh),
                    session=s, source=notify.source_of(fresh.id))
    except CheckinError as err:
        return _error(err)
    _arm(rt, [item for a in asked for item in a.items])
    return Outcome([Out("checkin/spot_drawn", {"rnd": fresh, "asked": asked,
                                               "nobody": nobody})])


async def verify_cmd(rt: Runtime, sender: Sender, text: str) -> Outcome:
    """``/核实 <编号> 属实|不符 [说明]`` (private: the 说明 may name residents). A 不符
    goes privately to whoever asked for the check."""
    args = spot.parse_answer(text)
    if args is None:
        return _usage("checkin_verify")
    now = rt.now()
    try:
        async with rt.db.write() as s:
            done = await spot.answer(s, args, account=sender.account, now=now)
            if done.check.verdict == "不符":
                await rt.delivery.to_account(
                    done.check.asked_by,
                    rt.renderer.render("checkin/spot_mismatch", d=done, note=scrub(args.note)),
                    session=s, source=notify.source_of(done.round.id))
    except CheckinError as err:
        return _error(err)
    return Outcome([Out("checkin/spot_answered", {"d": done})])


# Spot checks must not be predictable by whoever reported.
_RANDOM = random.SystemRandom()


def takes_relay(rest: str) -> bool:
    """``#接龙`` without a slash: only with at least one numbered line after it."""
    return relay.is_relay(rest)


def takes_report(rest: str) -> bool:
    """``打卡 …`` without the slash: only a check-in or a withdrawal that parses."""
    return isinstance(parse_report(rest), Report) or isinstance(parse_withdraw(rest), Withdraw)


def takes_round_ref(rest: str) -> bool:
    """``进度``, ``未报 #2`` without the slash: nothing after, or a round number."""
    return syntax.parse_round_ref(rest, allow_daily_report=True) is not None


async def _standing(rt: Runtime, sender: Sender, now: datetime) -> Standing:
    """The sender's staff flag and leader grants, from the directory (in memory)."""
    known = await rt.db.directory.current()
    return known.standing(sender.account, now, sender.superuser)


async def mine_cmd(rt: Runtime, sender: Sender, text: str) -> Outcome:
    """``/我的打卡``: the sender's reports in open rounds and their units still unreported."""
    if text.strip():
        return _usage("checkin_mine")
    who = await _standing(rt, sender, rt.now())
    async with rt.db.read() as s:
        rounds = await service.my_reports(s, who)
    return Outcome([Out("checkin/mine", {"rounds": rounds})])


async def _withdraw(rt: Runtime, sender: Sender, ask: Withdraw | ParseError) -> Outcome:
    """``/打卡 撤销 [#N] [单元]``: the sender's own report taken back, history kept."""
    if isinstance(ask, ParseError):
        return Outcome([Out("checkin/report_error", {"e": ask})])
    now = rt.now()
    who = await _standing(rt, sender, now)
    try:
        async with rt.db.write() as s:
            done = await service.withdraw(s, who=who, ask=ask, now=now)
    except CheckinError as err:
        return _error(err)
    return Outcome([Out("checkin/withdrawn", {"w": done})])


async def _note_to_staff(rt: Runtime, s, result, reporter: str) -> None:
    """A 备注 typed in a group is never echoed there (it may name residents): it goes
    privately, phones and IDs masked, to whoever opened the round (the superusers for
    a round the scheduler opened), in the report's transaction."""
    rnd = await s.get(CheckinRound, result.round_id)
    opener = rnd.opened_by if rnd is not None else ""
    to = [opener] if valid_account(opener) else sorted(rt.settings.superusers)
    text = rt.renderer.render("checkin/note_private", r=result, reporter=reporter,
                              note=scrub(result.note))
    for account in to:
        await rt.delivery.to_account(
            account, text, session=s, source=notify.source_of(result.round_id)
        )


# --- /进度 /未报 /催报 /导出 /结束 ----------------------------------------------------------------


async def _round_for(
    rt: Runtime, sender: Sender, ref: syntax.RoundRef, *, open_only: bool, pick: bool = True,
):
    async with rt.db.read() as s:
        group = await group_binding(s, sender.platform, sender.group_id)
        return await service.find_round(s, ref.number, group, open_only=open_only, pick=pick)


async def _round_of_text(
    rt: Runtime, sender: Sender, text: str, usage_name: str, *, open_only: bool = True,
) -> CheckinRound | Outcome:
    """The round ``[#N]`` names (or the one to take), else the answer to give instead."""
    ref = syntax.parse_round_ref(text)
    if ref is None:
        return _usage(usage_name)
    try:
        return await _round_for(rt, sender, ref, open_only=open_only)
    except CheckinError as err:
        return _error(err)


async def progress_cmd(rt: Runtime, sender: Sender, text: str) -> Outcome:
    ref = syntax.parse_round_ref(text, allow_daily_report=True)
    if ref is None:
        return _usage("checkin_progress")
    now = rt.now()
    try:
        rnd = await _round_for(rt, sender, ref, open_only=False)
    except CheckinError as err:
        return _error(err)
    async with rt.db.read() as s:
        if ref.daily_report:
            ctx = await notify.summary_context(s, rnd, now, "request")
            return Outcome([Out("checkin/daily_report", ctx)])
        ctx = await notify.progress_context(s, rnd, now)
        ctx["spots"] = await spot.summary(s, rnd.id)  # type: ignore[arg-type]
    return Outcome([Out("checkin/progress", ctx)])


async def missing_cmd(rt: Runtime, sender: Sender, text: str) -> Outcome:
    rnd = await _round_of_text(rt, sender, text, "checkin_missing")
    if isinstance(rnd, Outcome):
        return rnd
    async with rt.db.read() as s:
        replies = await notify.missing_replies(s, rnd, rt.now(), sender.platform)
    if sender.group_id is None:  # an @ means nothing in a private chat
        replies = [Out(o.template, o.context) for o in replies]
    return Outcome(replies)


async def chase_cmd(rt: Runtime, sender: Sender, text: str) -> Outcome:
    rnd = await _round_of_text(rt, sender, text, "checkin_chase")
    if isinstance(rnd, Outcome):
        return rnd
    now = rt.now()
    async with rt.db.write() as s:
        chase = await notify.chase(s, rnd, now, automatic=False)
        await notify.queue(rt, s, chase.pushes, source=notify.source_of(rnd.id))
        # The duty record counts it as a reminder of each unit still unreported.
        await audit(s, sender.account, "checkin_chase", f"#{rnd.id} units={chase.units}",
                    at=now, subject=("round", rnd.id))
    groups = {p.group.id for p in chase.pushes}
    reply = Out(
        "checkin/chase_done",
        {"rnd": rnd, "units": chase.units, "groups": len(groups),
         "mentioned": chase.mentioned, "orphans": chase.orphans},
    )
    return Outcome([reply])


async def export_cmd(rt: Runtime, sender: Sender, text: str) -> Outcome:
    now = rt.now()
    rnd = await _round_of_text(rt, sender, text, "checkin_export", open_only=False)
    if isinstance(rnd, Outcome):
        return rnd
    assert rnd.id is not None
    async with rt.db.read() as s:
        reports = len(await service.current_reports(s, rnd.id))
        missing = len(await service.missing_units(s, rnd.id, now))
    path = await export.write_round(rt.db, rt.settings.data_path(), rnd.id, rnd.title, now)
    async with rt.db.write() as s:
        # The file is fetched through the person's own console login, never by a path.
        token = await links.issue_link(s, sender.account, links.LINK_DOWNLOAD, now,
                                       path=path.name, label=path.name)
        await audit(
            s, sender.account, "export_round",
            f"#{rnd.id} reports={reports} missing={missing} file={path.name}",
            at=now, subject=("round", rnd.id),
        )
    ctx = {"rnd": rnd, "url": rt.settings.console_url(f"/console/download/{token}"),
           "hours": int(links.DOWNLOAD_TTL.total_seconds() // 3600),
           "reports": reports, "missing": missing}
    message = Out("checkin/export_ok", ctx)
    files = [(sender.account, path, path.name)]  # also as a file where QQ can
    if sender.group_id is None:
        return Outcome([message], files=files)
    # Exports name leaders and their accounts: never into a group. The group only
    # hears that it went out, or how to get it when a private message cannot be
    # sent (QQ lets a bot write privately only to friends).
    return Outcome(
        [Out("checkin/export_sent", ctx)], private=[(sender.account, message)],
        private_failed=Out("checkin/export_private_failed", ctx), files=files,
    )


async def close_cmd(rt: Runtime, sender: Sender, text: str) -> Outcome:
    ref = syntax.parse_round_ref(text)
    if ref is None:
        return _usage("checkin_close")
    return await _close(rt, sender, ref.number, confirmed=False)


async def close_confirmed(rt: Runtime, sender: Sender, payload: dict) -> Outcome:
    """``/确认`` after "还有N个单元未报": that round closed (if still open)."""
    return await _close(rt, sender, payload["round_id"], confirmed=True)


async def _close(rt: Runtime, sender: Sender, number: int | None, confirmed: bool) -> Outcome:
    now = rt.now()
    try:
        rnd = await _round_for(rt, sender, syntax.RoundRef(number), open_only=True, pick=False)
        async with rt.db.write() as s:
            fresh = await s.get(type(rnd), rnd.id)
            assert fresh is not None
            # Closing changes no report: the tally that decides whether to ask is the
            # final one the reply shows.
            total = await tally.total(s, rnd.id)  # type: ignore[arg-type]
            if not confirmed and total.missing:
                await asks.hold(s, sender, ASK_CLOSE, {
                    "round_id": rnd.id, "title": rnd.title, "missing": total.missing}, now)
                return Outcome([Out("checkin/ask_close",
                                    {"rnd": fresh, "missing": total.missing})])
            cancelled = await service.close_round(s, fresh, actor=sender.account, now=now)
    except CheckinError as err:
        return _error(err)
    if rt.scheduler is not None:
        rt.scheduler.disarm(cancelled)
    return Outcome([Out("checkin/closed", {"rnd": fresh, "t": total})])
