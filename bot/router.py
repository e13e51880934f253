"""One matcher for every declared command.

NoneBot evaluates the rule and permission of every matcher for every message,
each check in its own task group: with one ``on_command`` per command that was
most of the event loop's time. Here the declared commands (``bot.kit.Command``
with a flow, from every loaded plugin's ``extra["commands"]``) are put into
NoneBot's command table once, and a single matcher takes a message whose
recognised command is one of them: one dictionary lookup per message. Its
handler checks the command's declared permission (a polite refusal otherwise),
calls the flow with the text after the command, and delivers the outcome.

The command table is NoneBot's own (``TrieRule``), so the privacy gate and the
intake, which read the recognised command from the event state, see routed
commands exactly as they saw ``on_command`` ones.
"""

from __future__ import annotations

from nonebot import get_driver, on_message
from nonebot.adapters import Bot, Event
from nonebot.consts import CMD_ARG_KEY, CMD_KEY, PREFIX_KEY
from nonebot.matcher import Matcher
from nonebot.rule import TRIE_VALUE, Rule, TrieRule
from nonebot.typing import T_State

from bot.kit import Command, declared_commands, deliver, sender_of
from bot.platforms import group_of
from bot.reply import reply_template
from bot.runtime import current_runtime

ROUTER_PRIORITY = 10


def routed_commands() -> dict[tuple[str, ...], Command]:
    """Every loaded plugin's commands that have a flow, by name and alias."""
    table: dict[tuple[str, ...], Command] = {}
    for command in declared_commands():
        if getattr(command, "flow", None) is None:
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
    async def _dispatch(bot: Bot, event: Event, state: T_State) -> None:
        prefix = state[PREFIX_KEY]
        command = table[prefix[CMD_KEY]]
        if command.private_only and group_of(bot, event) is not None:
            await reply_template(bot, event, "common/private_only")
            return
        if not await command.permission(bot, event):
            await reply_template(bot, event, "common/refused")
            return
        arg = prefix.get(CMD_ARG_KEY)
        text = arg.extract_plain_text() if arg is not None else ""
        rt = current_runtime()
        assert command.flow is not None
        outcome = await command.flow(rt, sender_of(bot, event, rt), text)
        await deliver(bot, event, rt, outcome)

    return router
