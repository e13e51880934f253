"""What each broadcast command does, from its argument text to what is said.

Each flow takes the runtime, the sender and the raw argument text and returns an
``Outcome``. The deliveries of a confirmed broadcast are queued in the outbox in
the transaction that confirms it; the ack chase is armed after the commit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from bot import asks
from bot.kit import Out, Outcome, Sender, refusal, usage
from bot.runtime import Runtime
from bot.scheduler import cancel_items
from ground.grammar import parse_scope
from plugins._common.lookups import origin_base as _group_base
from plugins.broadcast import ack, service
from plugins.broadcast.service import BroadcastError
from storage.repo import ALL, ScopeError, resolve_scope


async def _preview(rt: Runtime, sender: Sender, raw: str, urgent: bool) -> Outcome:
    name = "urgent_broadcast" if urgent else "broadcast"
    parsed = service.parse_broadcast(raw)
    if parsed is None:
        return usage(name)
    expr = None
    if parsed.scope is not None:
        expr = parse_scope(parsed.scope)
        if expr is None:
            return usage(name)
    base = await _group_base(rt, sender)
    try:
        async with rt.db.write() as s:
            scope = await resolve_scope(s, expr, base) if expr is not None else ALL
            preview = await service.create_preview(
                s, actor=sender.account, scope=scope, text=parsed.text,
                urgent=urgent, ack=parsed.ack, now=rt.now(), quiet=rt.settings.quiet_hours,
                duplicate_window=timedelta(seconds=rt.settings.duplicate_window_s),
                pacing=rt.settings.pacing_table(),
            )
    except (BroadcastError, ScopeError) as err:
        return refusal(err)
    return Outcome([Out("broadcast/preview", {"p": preview})])


async def broadcast_cmd(rt: Runtime, sender: Sender, text: str) -> Outcome:
    return await _preview(rt, sender, text, urgent=False)


async def urgent_cmd(rt: Runtime, sender: Sender, text: str) -> Outcome:
    return await _preview(rt, sender, text, urgent=True)


_WORDS = {"confirm": "确认", "cancel": "取消"}


async def _the_pending_one(
    rt: Runtime, sender: Sender, text: str, command: str
) -> int | Outcome:
    """What ``/确认`` or ``/取消`` acts on: the broadcast numbered, the held-back
    command named (``/确认 发起``), or without either the sender's only pending
    item, a broadcast preview or an ask of this chat; several are listed (the
    sender picks), none gets the usage. A held-back command is dealt with here
    (its outcome returned); a broadcast's number is returned to the caller."""
    number = service.parse_number(text)
    if number is not None:
        return number
    word = text.strip()
    async with rt.db.read() as s:
        held = await asks.held(s, sender, rt.now())
        pending = [] if word else await service.pending_previews(s, sender.account)
    if word:
        named = [h for h in held if h.ask.word == word]
        if named:
            return await _run_held(rt, sender, named[0], confirm=command == "confirm")
        known = {a.word for a in asks.declared_asks().values()}
        return Outcome([Out("common/nothing_pending")]) if word in known else usage(command)
    if len(pending) + len(held) == 1:
        if held:
            return await _run_held(rt, sender, held[0], confirm=command == "confirm")
        return pending[0].id  # type: ignore[return-value]
    if pending or held:
        return Outcome([Out("broadcast/pending_list",
                            {"items": pending, "asks": held, "command": _WORDS[command]})])
    return usage(command)


async def _run_held(rt: Runtime, sender: Sender, held: asks.Held, confirm: bool) -> Outcome:
    """A held-back command: taken first (a second /确认 finds nothing), then run."""
    async with rt.db.write() as s:
        taken = await asks.take(s, held.id)
    if not taken:
        return usage("confirm" if confirm else "cancel")
    if confirm:
        return await held.ask.run(rt, sender, held.payload)
    return Outcome([Out("common/ask_cancelled", {"h": held})])


async def confirm_cmd(rt: Runtime, sender: Sender, text: str) -> Outcome:
    return await _on_pending(rt, sender, text, "confirm", _confirm)


async def cancel_cmd(rt: Runtime, sender: Sender, text: str) -> Outcome:
    return await _on_pending(rt, sender, text, "cancel", _cancel)


# What /确认 or /取消 does to a broadcast in the write transaction: its reply, and what the
# scheduler does once it commits (without a scheduler, the next start's rebuild does it).
_Act = Callable[[Runtime, Any, Sender, int], Awaitable[tuple[Out, Callable[[Any], None]]]]


async def _on_pending(rt: Runtime, sender: Sender, text: str, command: str,
                      act: _Act) -> Outcome:
    number = await _the_pending_one(rt, sender, text, command)
    if isinstance(number, Outcome):
        return number
    if rt.outbox is None:
        return usage(command)
    try:
        async with rt.db.write() as s:
            out, then = await act(rt, s, sender, number)
    except BroadcastError as err:
        return refusal(err)
    if rt.scheduler is not None:
        then(rt.scheduler)
    return Outcome([out])


async def _confirm(rt: Runtime, s: Any, sender: Sender, number: int):
    bc, n = await service.confirm(
        s, rt.delivery, actor=sender.account, number=number, now=rt.now(),
        quiet=rt.settings.quiet_hours, superuser=sender.superuser,
    )
    chase = await ack.schedule_chase(s, bc, rt.now(), rt.settings.ack_chase_minutes)
    return Out("broadcast/started", {"bc": bc, "n": n}), (
        lambda scheduler: chase is not None and scheduler.arm(chase))


async def _cancel(rt: Runtime, s: Any, sender: Sender, number: int):
    assert rt.outbox is not None  # checked by _on_pending
    bc, stopped = await service.cancel(
        s, rt.outbox, actor=sender.account, number=number, now=rt.now(),
        superuser=sender.superuser,
    )
    dropped = await cancel_items(s, [ack.KIND_CHASE], number)
    return Out("broadcast/cancelled", {"bc": bc, "stopped": stopped}), (
        lambda scheduler: scheduler.disarm(dropped))


async def status_cmd(rt: Runtime, sender: Sender, text: str) -> Outcome:
    number = service.parse_number(text)
    if number is None:
        return usage("broadcast_status")
    try:
        async with rt.db.read() as s:
            report = await service.delivery_report(s, number)
    except BroadcastError as err:
        return refusal(err)
    return Outcome([Out("broadcast/report", {"r": report, "show_list": True})])
