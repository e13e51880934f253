"""Resident groups hear only public text (DESIGN.md §4).

A command typed in a resident group could answer with names (`/我的信息`,
`/未报`, a policy's study list). Rather than trusting every plugin to check,
the router (``bot.router``) asks ``refusal`` before any command runs in a group:
only the commands that are safe there run, the rest get a pointer to the
private chat. ``/政策`` is one: there it shows only the public notices.

A group nobody has bound (or one just unbound) is treated the same way: who
is in it is unknown, so only `/帮助` and `/绑定群` run there, with a hint.
"""

from __future__ import annotations

from storage.models import ChatGroup

# Commands whose answers are public or about the group itself.
SAFE_IN_RESIDENT_GROUPS = frozenset({"帮助", "help", "菜单", "绑定群", "解绑群", "政策"})
SAFE_IN_UNBOUND_GROUPS = frozenset({"帮助", "help", "菜单", "绑定群"})


def refusal(command: str, group: ChatGroup | None) -> str | None:
    """The template that answers ``command`` typed in a group bound as ``group``
    (None: nobody bound it), or None when the command may run there."""
    if group is None:
        return None if command in SAFE_IN_UNBOUND_GROUPS else "common/unbound_group"
    if group.kind == "resident" and command not in SAFE_IN_RESIDENT_GROUPS:
        return "common/resident_group"
    return None
