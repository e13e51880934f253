"""One matcher for every declared command.

NoneBot evaluates the rule and permission of every matcher for every message,
each check in its own task group: with one ``on_command`` per command that was
most of the event loop's time. Here the declared commands (``bot.kit.Command``
with a flow, from every loaded plugin's ``extra["commands"]``) are put into
NoneBot's command table once, and a single matcher takes a message whose
recognised command is one of them: one dictionary lookup per message. Its
handler checks the command's declared permission (a polite refusal otherwise),
calls the flow with the text after the command, and delivers the outcome.

The command table is NoneBot's own (``TrieRule``), so the intake, which reads
the recognised command from the event state, sees routed commands exactly as it
saw ``on_command`` ones. In a group the router first asks ``bot.privacy`` whether
the command may run there (resident and unbound groups), reading the group's
binding and the sender's roles in one session; a private-only command typed in a
group gets a pointer to the private chat before any rights are checked.

A second matcher, just below, answers a ``/word`` that is no command ("没有“/大卡”这个
命令，是不是 /打卡？") in private chats and work or team groups; in a resident or an
unbound group it stays silent (a resident's typo, another bot's command).
"""

from __future__ import annotations

import logging
import re

from nonebot import get_driver, on_message
from nonebot.adapters import Bot, Event
from nonebot.consts import CMD_ARG_KEY, CMD_KEY, PREFIX_KEY
from nonebot.matcher import Matcher, current_bot, current_event
from nonebot.rule import TRIE_VALUE, Rule, TrieRule
from nonebot.typing import T_State

from bot import privacy
from bot.intake import FAILED_TEMPLATE, answer
from bot.kit import (
    Command,
    Outcome,
    brief,
    declared_commands,
    deliver,
    is_usage,
    sender_of,
)
from bot.permissions import holds, prime_roles
from bot.platforms import account_of, group_of, platform_of
from bot.reply import reply_template
from bot.runtime import current_runtime
from ground.grammar import suggestion
from messages.mask import scrub

log = logging.getLogger("gridbot.router")

ROUTER_PRIORITY = 10
UNKNOWN_TEMPLATE = "common/unknown_command"
FALLBACK_KEY = "_gridbot_fallback"


def routed_commands() -> dict[tuple[str, ...], Command]:
    """Every loaded plugin's commands that have a flow, by name and alias."""
    table: dict[tuple[str, ...], Command] = {}
    for command in declared_commands():
        if command.flow is None:
            continue
        for name in (command.name, *command.aliases):
            if (name,) in table:
                raise ValueError(f"command /{name} declared twice")
            table[(name,)] = command
    return table


def install() -> type[Matcher]:
    """The router, after the plugins are loaded (their declarations make the table)."""
    table = routed_commands()
    starts = get_driver().config.command_start
    for key in table:
        for start in starts:
            TrieRule.add_prefix(f"{start}{key[0]}", TRIE_VALUE(start, key))

    async def is_routed(state: T_State) -> bool:
        prefix = state.get(PREFIX_KEY)
        return bool(prefix) and prefix.get(CMD_KEY) in table

    router = on_message(rule=Rule(is_routed), priority=ROUTER_PRIORITY, block=True)

    @router.handle()
    async def _dispatch(state: T_State) -> None:
        # One parameter: NoneBot solves each in a task of its own, for every message.
        bot, event = current_bot.get(), current_event.get()
        prefix = state[PREFIX_KEY]
        arg = prefix.get(CMD_ARG_KEY)
        await run(bot, event, table[prefix[CMD_KEY]], prefix[CMD_KEY][0],
                  arg.extract_plain_text() if arg is not None else "")

    names = sorted(key[0] for key in table)
    meant = {word: form for c in table.values() for word, form in c.meant_by}

    forms = bare_forms(table)

    async def is_fallback(event: Event, state: T_State) -> bool:
        if event.get_type() != "message" or await is_routed(state):
            return False
        text = event.get_plaintext()
        found = bare_command(text, forms) or typed_command(text)
        if found is None:
            return False
        state[FALLBACK_KEY] = found  # for the handler: found once
        return True

    fallback = on_message(rule=Rule(is_fallback), priority=ROUTER_PRIORITY + 1, block=True)

    @fallback.handle()
    async def _fallback(state: T_State) -> None:
        bot, event = current_bot.get(), current_event.get()
        gid = group_of(bot, event)
        if gid is not None:
            # Only in work and team groups: a resident's message, or another bot's
            # command in an unbound group, is not ours to answer.
            group = (await current_runtime().db.directory.current()).binding(
                platform_of(bot), gid)
            if group is None or group.kind == "resident":
                return
        found = state[FALLBACK_KEY]
        if isinstance(found, tuple):
            await run(bot, event, *found)
            return
        # A mistyped /word, echoed masked: a phone number typed after "/" stays private.
        guess = next((meant[w] for w in meant if found.startswith(w)), None)
        await answer(bot, event, UNKNOWN_TEMPLATE, typed=scrub(found),
                     guess=guess or suggestion(found, names))

    return router


async def run(bot: Bot, event: Event, command: Command, name: str, text: str) -> None:
    """One command, typed as ``name``: where it may run, then rights, then its flow."""
    rt = current_runtime()
    gid = group_of(bot, event)
    if gid is not None:
        # Where it was typed decides first (bot.privacy), then private-only, then
        # rights. The group and the sender's roles come from the directory.
        try:
            group, account = None, account_of(bot, event)
            known = await rt.db.directory.current()
            group = known.binding(platform_of(bot), gid)
            if account is not None and account not in rt.settings.superusers:
                prime_roles(event, account, known.roles(account, rt.now()))
        except Exception:
            log.exception("router: cannot read the directory")
            await answer(bot, event, FAILED_TEMPLATE, command=name)
            return
        refused = privacy.refusal(name, group)
        if refused is None and command.private_only:
            refused = "common/private_only"
        if refused is not None:
            await reply_template(bot, event, refused)
            return
    if not await holds(command.permission, bot, event):
        await reply_template(bot, event, "common/refused")
        return
    assert command.flow is not None
    sender = sender_of(bot, event, rt)
    outcome = await command.flow(rt, sender, text)
    flush = rt.usage.note(sender.account, command.name)
    if text.strip() and is_usage(outcome, command):
        full = rt.renderer.render(outcome.first.template, **outcome.first.context)
        outcome = Outcome([brief(full, name, text)])
    await deliver(bot, event, rt, outcome)
    if flush:  # after the answer: the sender does not wait for the counts
        await rt.usage.flush(rt.db, rt.now())


def bare_forms(table: dict[tuple[str, ...], Command]) -> list[tuple[str, Command]]:
    """The commands taken without their slash, longest name first (我的打卡 before 打卡)."""
    forms = [(key[0], c) for key, c in table.items() if c.bare is not None]
    return sorted(forms, key=lambda form: -len(form[0]))


def bare_command(
    text: str, forms: list[tuple[str, Command]]
) -> tuple[Command, str, str] | None:
    """A command typed without its slash (``打卡 3栋2单元 18户``, ``进度``): the command,
    its name and the rest, when the command declares that it takes the rest so."""
    t = text.strip()
    for name, command in forms:
        if t.startswith(name):
            rest = t[len(name):]
            if command.bare is not None and command.bare(rest):
                return command, name, rest
    return None


def typed_command(text: str) -> str | None:
    """The word right after a leading command start, as typed (None: not a command)."""
    m = _TYPED.match(text[:64])
    return m.group(1) if m else None


_TYPED = re.compile(r"^\s*[/／](\S{1,12})")
