"""Bounded intake: every command is handled or refused at once, never lost.

NoneBot starts a task for every incoming event and queues them without bound:
under a deadline spike the backlog (and memory) grows until answers come
minutes late or the process is killed. Here every message event takes a turn:

* at most ``max_inflight`` events are handled at once; the others wait in one
  FIFO queue;
* a *command* (a registered `/…` prefix) that would wait longer than
  ``max_wait`` seconds (estimated from the recent time per event), or find
  ``max_waiting`` events already queued, is answered at once with the "busy"
  template — not recorded, resend in a minute — and not handled; one that was
  let in but still has not had its turn after twice that long is refused the
  same way. The refusals of one group within 0.3 s share one message that
  @-mentions each sender (``BusyReplies``);
* other messages (a plain "收到", chatter) are never refused: they wait their
  turn; events that are not messages (heartbeats, notices) pass untouched.

The turn is taken in a generator dependency of the event preprocessor, so it is
released by the event's own exit stack whatever happens after: a matcher that
raises, another preprocessor that ignores the event, a cancellation.

A matcher that raises answers its sender (`run_postprocessor`): "系统出错，本条未
记录" when no write transaction committed in that run, otherwise a template that
says it may have been recorded (`storage.db.commits_in_context`).

Replies go through ``runtime.delivery.reply`` like every plugin's, as plain text.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from nonebot.adapters import Bot, Event
from nonebot.consts import CMD_KEY, PREFIX_KEY
from nonebot.exception import IgnoredException
from nonebot.matcher import Matcher
from nonebot.message import run_postprocessor
from nonebot.rule import TrieRule
from nonebot.typing import T_State

from bot.delivery import MAX_MENTIONS_PER_MESSAGE
from bot.platforms import Mention, account_of, group_of, is_own_or_system, sender_name
from bot.runtime import Runtime, current_runtime
from bot.settings import Settings
from storage.db import commits_in_context

log = logging.getLogger("gridbot.intake")

TICKET_KEY = "_gridbot_intake"
BUSY_TEMPLATE = "common/busy"
FAILED_TEMPLATE = "common/failed"
FAILED_PARTIAL_TEMPLATE = "common/failed_partial"


@dataclass
class Ticket:
    """One message event's place in the intake."""

    command: str | None  # the registered command it starts with, if any
    refused: bool = False
    admitted_at: float = 0.0
    commits_before: int = 0
    # The bot and event, for answer_failure. Out of the repr: NoneBot formats the
    # state (where the ticket lives) into a TRACE line for every matcher it runs.
    origin: tuple[Bot, Event] | None = field(default=None, repr=False, compare=False)


class Intake:
    """Turns for message events: ``max_inflight`` at once, a bounded FIFO behind."""

    def __init__(
        self,
        max_inflight: int = 8,
        max_waiting: int = 32,
        max_wait: float = 5.0,
        *,
        initial_service: float = 0.2,
        busy_window: float = 0.3,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_inflight < 1:
            raise ValueError("max_inflight must be at least 1")
        self.max_inflight = max_inflight
        self.max_waiting = max_waiting
        self.max_wait = max_wait
        self.clock = clock
        # Smoothed seconds one admitted event takes, admission to release, while
        # others run beside it: max_inflight / service is the throughput.
        self.service = initial_service
        self.inflight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self.admitted = 0
        self.refused = 0
        self.refused_late = 0
        self.peak_waiting = 0
        self._refusing = False
        self.busy_replies = BusyReplies(busy_window)

    @classmethod
    def from_settings(cls, settings: Settings) -> Intake:
        return cls(
            max_inflight=settings.intake_max_inflight,
            max_waiting=settings.intake_max_waiting,
            max_wait=settings.intake_max_wait_s,
        )

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def estimated_wait(self) -> float:
        """Seconds a newcomer at the back of the queue would wait for its turn."""
        if self.inflight < self.max_inflight and not self._waiters:
            return 0.0
        return (len(self._waiters) + 1) * self.service / self.max_inflight

    async def admit(self, refusable: bool) -> bool:
        """Wait for a turn. False: refused (only when ``refusable``); the caller
        answers "busy" and must not handle the event."""
        if self.inflight < self.max_inflight and not self._waiters:
            self._take()
            return True
        if refusable and (
            len(self._waiters) >= self.max_waiting or self.estimated_wait() > self.max_wait
        ):
            self._refuse(late=False)
            return False
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        self.peak_waiting = max(self.peak_waiting, len(self._waiters))
        try:
            # An estimate can be wrong (the process starved of CPU): a command still
            # waiting after twice the bound is refused rather than answered very late.
            async with asyncio.timeout(2 * self.max_wait if refusable else None):
                await fut
        except TimeoutError:
            if not (fut.done() and not fut.cancelled()):  # else: its turn came just now
                fut.cancel()
                self._discard(fut)
                self._refuse(late=True)
                return False
        except BaseException:
            if fut.done() and not fut.cancelled():
                self._release_turn()  # handed a turn as it was cancelled: pass it on
            else:
                fut.cancel()
                self._discard(fut)
            raise
        self.admitted += 1
        return True

    def release(self, admitted_at: float) -> None:
        took = max(0.0, self.clock() - admitted_at)
        self.service += 0.2 * (took - self.service)
        self._release_turn()

    def _take(self) -> None:
        self.inflight += 1
        self.admitted += 1
        if self._refusing:
            self._refusing = False
            log.warning("intake: accepting commands again (%d refused so far)", self.refused)

    def _release_turn(self) -> None:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)  # the turn moves to the next in line
                return
        self.inflight -= 1

    def _discard(self, fut: asyncio.Future[None]) -> None:
        try:
            self._waiters.remove(fut)
        except ValueError:
            pass

    def _refuse(self, late: bool) -> None:
        self.refused += 1
        if late:
            self.refused_late += 1
        if not self._refusing:
            self._refusing = True
            log.warning(
                "intake: busy, refusing new commands (%d running, %d waiting, ~%.1f s per event)",
                self.inflight, len(self._waiters), self.service,
            )


class BusyReplies:
    """"Busy" answers to one group within ``window`` seconds go out as one message
    @-mentioning every sender (``Delivery.reply`` splits at 20 mentions): a spike
    refused one reply per command would be a burst that gets a QQ account muted.
    Private chats are answered one by one. Each caller returns once its answer
    has been sent (or has failed: logged)."""

    def __init__(self, window: float = 0.3) -> None:
        self.window = window
        self._open: dict[tuple[str, str, str], _Batch] = {}
        self._flushing: set[asyncio.Task] = set()
        self.messages = 0  # busy messages sent (for the benchmark)

    async def send_busy(self, bot: Bot, event: Event, command: str) -> None:
        gid = group_of(bot, event)
        account = account_of(bot, event)
        if gid is None or account is None or self.window <= 0:
            self.messages += 1
            await answer(bot, event, BUSY_TEMPLATE, command=command)
            return
        key = (bot.self_id, gid, command)
        batch = self._open.get(key)
        if batch is None or len(batch.mentions) >= MAX_MENTIONS_PER_MESSAGE:
            batch = self._open[key] = _Batch(bot, event, command)
            asyncio.get_running_loop().call_later(self.window, self._flush, key, batch)
        if account not in {m.account for m in batch.mentions}:
            batch.mentions.append(Mention(account, sender_name(event) or account))
        if len(batch.mentions) >= MAX_MENTIONS_PER_MESSAGE:
            self._flush(key, batch)
        await batch.sent.wait()

    def _flush(self, key: tuple[str, str, str], batch: _Batch) -> None:
        if self._open.get(key) is batch:
            del self._open[key]
        if batch.flushed:
            return
        batch.flushed = True
        task = asyncio.ensure_future(self._send(batch))
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def _send(self, batch: _Batch) -> None:
        try:
            self.messages += 1
            await answer(bot=batch.bot, event=batch.event, template=BUSY_TEMPLATE,
                          mentions=tuple(batch.mentions), command=batch.command)
        finally:
            batch.sent.set()


@dataclass
class _Batch:
    bot: Bot
    event: Event  # the first one: where the answer goes
    command: str
    mentions: list[Mention] = field(default_factory=list)
    sent: asyncio.Event = field(default_factory=asyncio.Event)
    flushed: bool = False


_intakes: weakref.WeakKeyDictionary[Runtime, Intake] = weakref.WeakKeyDictionary()


def attach(runtime: Runtime, intake: Intake) -> Intake:
    """Use this intake for the runtime's events (else one is built from its settings)."""
    _intakes[runtime] = intake
    return intake


def intake_for(runtime: Runtime) -> Intake:
    intake = _intakes.get(runtime)
    if intake is None:
        intake = attach(runtime, Intake.from_settings(runtime.settings))
    return intake


def command_of(bot: Bot, event: Event) -> str | None:
    """The registered command a message starts with (NoneBot's own prefix trie)."""
    try:
        prefix = TrieRule.get_value(bot, event, {})
    except Exception:  # an odd first segment: not a command then
        return None
    command = prefix.get(CMD_KEY)
    return command[0] if command else None


async def turn(bot: Bot, event: Event) -> AsyncIterator[Ticket | None]:
    """The event's turn, held until the event's exit stack closes."""
    if event.get_type() != "message" or is_own_or_system(bot, event):
        yield None
        return
    intake = intake_for(current_runtime())
    command = command_of(bot, event)
    if not await intake.admit(refusable=command is not None):
        yield Ticket(command, refused=True)
        return
    ticket = Ticket(command, admitted_at=intake.clock(), commits_before=commits_in_context())
    try:
        yield ticket
    finally:
        intake.release(ticket.admitted_at)


async def gate(bot: Bot, event: Event, state: T_State, ticket: Any) -> None:
    """The intake's part of the event preprocessor; ``ticket`` is ``Depends(turn)``'s."""
    if not isinstance(ticket, Ticket):
        return
    ticket.origin = (bot, event)
    state[TICKET_KEY] = ticket
    if ticket.refused:
        replies = intake_for(current_runtime()).busy_replies
        await replies.send_busy(bot, event, ticket.command or "")
        raise IgnoredException("intake busy: command refused, sender told to resend")


async def answer_failure(matcher: Matcher, exception: Exception | None) -> None:
    """A command whose handler raised is answered, never left silent (NoneBot has
    already logged the traceback). Two parameters (NoneBot solves each in a task of
    its own, after every matcher); the bot and event come from the state."""
    if exception is None:
        return
    state = matcher.state
    ticket = state.get(TICKET_KEY)
    if not isinstance(ticket, Ticket) or ticket.origin is None:  # not a message event
        return
    bot, event = ticket.origin
    command = (state.get(PREFIX_KEY) or {}).get(CMD_KEY)
    if not command:  # not a command (a plain "收到"): nobody is waiting for an answer
        return
    before = ticket.commits_before
    partial = commits_in_context() > before
    log.warning("/%s failed (%s)%s", command[0], exception.__class__.__name__,
                ": something was committed" if partial else "")
    template = FAILED_PARTIAL_TEMPLATE if partial else FAILED_TEMPLATE
    await answer(bot, event, template, command=command[0])


async def answer(
    bot: Bot, event: Event, template: str, mentions: tuple[Mention, ...] | None = None,
    **context: object,
) -> None:
    """Answer the sender from a template (in a group @-mentioning them unless
    `mentions` says otherwise); a failed send is logged, never raised."""
    runtime = current_runtime()
    if mentions is None:
        mentions = ()
        if group_of(bot, event) is not None:  # in a busy group: say whose message it was
            account = account_of(bot, event)
            if account is not None:
                mentions = (Mention(account, sender_name(event) or account),)
    try:
        text = runtime.renderer.render(template, **context)
        await runtime.delivery.reply(bot, event, text, mentions)
    except Exception as err:  # bot gone, risk control: the log must do
        log.warning("could not answer %s: %s", template, err.__class__.__name__)


def install() -> None:
    """The failure answer; the turn is taken by bot.app's one event preprocessor."""
    run_postprocessor(answer_failure)
