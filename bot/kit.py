"""The command kit: how a capability declares a command, and what its flow returns.

A plugin lists its commands once, in ``PluginMetadata.extra["commands"]``:

    Command("打卡", LEADER_PERM, "checkin_report", "排查打卡", flow=flows.report_cmd)

``bot.router`` reads those declarations, recognises the command (NoneBot's
command table), checks the declared permission once and calls the flow; ``/帮助``
lists the same declarations. A flow is a plain async function

    async def flow(rt: Runtime, sender: Sender, text: str) -> Outcome

that parses ``text`` (what follows the command), calls service functions in a
transaction and returns an ``Outcome``: replies (template + context + mentions)
and private messages. It can be tested without a bot. Pushes to other chats are
not part of the outcome: a flow queues them in the outbox in the transaction
that decides them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nonebot.adapters import Bot, Event
from nonebot.permission import Permission
from nonebot.plugin import PluginMetadata

from bot.permissions import holds
from bot.platforms import Mention, account_of, group_of, platform_of
from messages.mask import scrub

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger("gridbot.kit")


PermissionCheck = Callable[[Permission], Awaitable[bool]]


@dataclass(frozen=True)
class Sender:
    account: str
    platform: str
    group_id: str | None = None  # platform group id; None in a private chat
    bot_id: str = ""
    superuser: bool = False
    # Set by the router: whether this sender holds a declared permission (/帮助
    # lists only those). Tests building a Sender by hand may leave it unset.
    checker: PermissionCheck | None = field(default=None, compare=False, repr=False)

    @property
    def private(self) -> bool:
        return self.group_id is None

    async def allowed(self, permission: Permission) -> bool:
        if self.superuser:
            return True
        return self.checker is not None and await self.checker(permission)


@dataclass
class Out:
    """One message to render: a template, its context, who it @-mentions."""

    template: str
    context: dict[str, Any] = field(default_factory=dict)
    mentions: tuple[Mention, ...] = ()


@dataclass
class Outcome:
    replies: list[Out]
    private: list[tuple[str, Out]] = field(default_factory=list)  # (account, message)
    # Said instead of ``replies`` when a private message could not be sent.
    private_failed: Out | None = None
    # Files sent privately where the platform can (account, path, name): a bonus
    # beside the download link the messages carry, never instead of it.
    files: list[tuple[str, Path, str]] = field(default_factory=list)

    @property
    def first(self) -> Out:
        return self.replies[0]


Flow = Callable[["Runtime", Sender, str], Awaitable[Outcome]]


@dataclass(frozen=True)
class Command:
    """One declared command. Without a ``flow`` it is only listed by ``/帮助`` (a
    capability that still answers through its own matcher)."""

    name: str  # without the leading "/"
    permission: Permission
    usage: str  # template name under messages/templates/usage/
    group: str = ""  # heading in /帮助
    flow: Flow | None = None
    aliases: tuple[str, ...] = ()
    # Personal data: typed in a group, anyone gets a pointer to the private chat
    # (``common/private_only``) before any permission check, parse or write.
    private_only: bool = False
    # Taken without its slash (in private chats and work or team groups) when this
    # accepts what follows the name: ``打卡 3栋2单元 18户``. Chatter that merely starts
    # with the word does not parse and is left alone.
    bare: Callable[[str], bool] | None = None
    # What a leader does every day: first in a leader's /帮助.
    daily: bool = False
    # Words people type for a form of this command ("/撤回" meaning "/打卡 撤销"):
    # the unknown-command answer suggests that form, not the nearest name.
    meant_by: tuple[tuple[str, str], ...] = ()


class CommandError(ValueError):
    """A refusal with a code. Each capability's subclass names its error template,
    which renders ``code`` and the context (``{% if code == "…" %}``)."""

    template = "common/error"

    def __init__(self, code: str, **context: Any) -> None:
        super().__init__(code)
        self.code = code
        self.context = context


def no_arguments(rest: str) -> bool:
    """A ``Command.bare`` for commands taken without the slash only when typed alone."""
    return not rest.strip()


def plugin_meta(
    name: str, description: str, *commands: Command, group: str = "",
    usage: str | None = None, **extra: Any,
) -> PluginMetadata:
    """A capability's metadata: its commands declared once (``group`` is the /帮助
    heading of those that name none); the usage line lists them unless given."""
    declared = [c if c.group or not group else replace(c, group=group) for c in commands]
    return PluginMetadata(
        name=name, description=description,
        usage=" ".join(f"/{c.name}" for c in declared) if usage is None else usage,
        extra={"commands": declared, **extra},
    )


def declared_commands() -> list[Command]:
    """Every loaded plugin's ``extra["commands"]``, in plugin order."""
    import nonebot

    found: list[Command] = []
    for plugin in sorted(nonebot.get_loaded_plugins(), key=lambda p: p.id_):
        meta = plugin.metadata
        if meta and isinstance(meta.extra, dict):
            found.extend(meta.extra.get("commands", []))
    return found


def usage(name: str, **context: Any) -> Outcome:
    """The command's usage reply (template ``usage/<name>``)."""
    return Outcome([Out(f"usage/{name}", context)])


BAD_ARGS_TEMPLATE = "common/bad_args"
_TYPED_SHOWN = 16


def is_usage(outcome: Outcome, command: Command) -> bool:
    """Whether a flow answered with nothing but the command's own usage (``/帮助 打卡``
    answers with another command's usage, on purpose)."""
    return (len(outcome.replies) == 1 and not outcome.private
            and outcome.first.template == f"usage/{command.usage}")


def synopsis(full_usage: str, name: str, text: str) -> str:
    """The one usage line for what was typed: the form whose words after ``/name``
    start the text (``/排查 每天 …``), else the first form; without its explanation."""
    forms = [line.split(" —— ")[0] for line in full_usage.splitlines() if line.startswith("/")]
    if not forms:
        return full_usage.splitlines()[0] if full_usage else f"/{name}"
    words = text.split()
    for form in forms:
        sub = form.split()[1:2]
        if sub and words and words[0] == sub[0]:
            return form
    return forms[0]


def brief(full_usage: str, name: str, text: str) -> Out:
    """A usage answer to arguments that did not parse, cut to what a phone shows:
    what was not understood, the one form that applies and where the examples are.
    The full usage is for the bare command and ``/帮助 <命令>``."""
    typed = scrub(" ".join(text.split()))
    if len(typed) > _TYPED_SHOWN:
        typed = typed[:_TYPED_SHOWN] + "…"
    return Out(BAD_ARGS_TEMPLATE, {
        "typed": typed, "form": synopsis(full_usage, name, text), "command": name})


def refusal(err: Exception) -> Outcome:
    """The reply for a refused input: a ``CommandError`` by its template, a scope
    that does not resolve (``storage.repo.ScopeError``) by ``common/scope_error``."""
    if isinstance(err, CommandError):
        return Outcome([Out(err.template, {"code": err.code, **err.context})])
    code, value = getattr(err, "code", ""), getattr(err, "value", "")
    return Outcome([Out("common/scope_error", {"code": code, "value": value})])


def sender_of(bot: Bot, event: Event, rt: Runtime) -> Sender:
    account = account_of(bot, event) or ""

    async def check(permission: Permission) -> bool:
        return await holds(permission, bot, event)

    return Sender(
        account=account,
        platform=platform_of(bot),
        group_id=group_of(bot, event),
        bot_id=bot.self_id,
        superuser=account in rt.settings.superusers,
        checker=check,
    )


async def deliver(bot: Bot, event: Event, rt: Runtime, outcome: Outcome) -> None:
    """Private messages, then replies (the sender sees what was understood)."""
    from bot.reply import reply_template

    replies, files = outcome.replies, outcome.files
    for account, out in outcome.private:
        try:
            await rt.delivery.to_account(
                account, rt.renderer.render(out.template, **out.context)
            )
        except Exception as err:  # not a friend, bot offline, risk control
            log.warning("private %s failed: %s", out.template, err.__class__.__name__)
            replies = [outcome.private_failed] if outcome.private_failed else replies
            files = []  # that chat is closed to files too
            break
    for out in replies:
        await reply_template(bot, event, out.template, out.mentions, **out.context)
    for account, path, name in files:
        try:
            data = await asyncio.to_thread(path.read_bytes)
            await rt.delivery.file_to_account(account, data, name)
        except Exception as err:  # not a friend, no upload call, too big: the link stays
            log.info("file %s not sent: %s", name, err.__class__.__name__)
