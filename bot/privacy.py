"""Resident groups hear only public text (DESIGN.md §4).

A command typed in a resident group could answer with names (`/我的信息`,
`/未报`, a policy's study list). Rather than trusting every plugin to check,
one run-preprocessor lets only the commands that are safe there run and
answers the rest with a pointer to the private chat.

A group nobody has bound (or one just unbound) is treated the same way: who
is in it is unknown, so only `/帮助` and `/绑定群` run there, with a hint.
"""

from __future__ import annotations

import logging

from nonebot.adapters import Bot, Event
from nonebot.exception import IgnoredException
from nonebot.message import run_preprocessor
from nonebot.typing import T_State

from bot.platforms import group_of, platform_of
from bot.runtime import current_runtime
from storage.repo import group_binding

log = logging.getLogger("gridbot.privacy")

# Commands whose answers are public or about the group itself.
SAFE_IN_RESIDENT_GROUPS = frozenset({"帮助", "help", "菜单", "绑定群", "解绑群"})
SAFE_IN_UNBOUND_GROUPS = frozenset({"帮助", "help", "菜单", "绑定群"})


async def resident_guard(bot: Bot, event: Event, state: T_State) -> None:
    if event.get_type() != "message":
        return
    command = (state.get("_prefix") or {}).get("command")
    if not command or command[0] in SAFE_IN_UNBOUND_GROUPS:
        return
    gid = group_of(bot, event)
    if gid is None:
        return
    runtime = current_runtime()
    try:
        async with runtime.db.read() as s:
            group = await group_binding(s, platform_of(bot), gid)
    except Exception:
        # NoneBot would log this and drop the command without a word: answer it.
        log.exception("privacy gate: cannot read the group binding")
        from bot.intake import FAILED_TEMPLATE, answer

        await answer(bot, event, FAILED_TEMPLATE, command=command[0])
        raise IgnoredException("privacy gate failed") from None
    from bot.reply import reply_template

    if group is None:
        await reply_template(bot, event, "common/unbound_group")
        raise IgnoredException("command not allowed in an unbound group")
    if group.kind != "resident" or command[0] in SAFE_IN_RESIDENT_GROUPS:
        return
    await reply_template(bot, event, "common/resident_group")
    raise IgnoredException("command not allowed in a resident group")


def install() -> None:
    run_preprocessor(resident_guard)
