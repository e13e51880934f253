"""The staff web console (网页后台): `/后台` in private chat gives a one-time login
link; the pages are served by this process under /console/ (bot.console is the
frame; each capability declares its own pages as a ``ConsolePart``)."""

from __future__ import annotations

from pathlib import Path

from bot.console import ConsolePart
from bot.kit import Command, plugin_meta
from bot.permissions import role_permission
from plugins.console import flows, pages
from storage.repo import ADMIN, BUILDING_LEADER, STAFF, SUPERVISION_TEAM, UNIT_LEADER

# Staff and leaders (their own places); the 纪检监督组 (the audit log, their files).
CONSOLE_PERM = role_permission(ADMIN, STAFF, BUILDING_LEADER, UNIT_LEADER, SUPERVISION_TEAM)

__plugin_meta__ = plugin_meta(
    "console", "The web console: one-time login links, the street at a glance.",
    # A login link must never be read by a group.
    Command("后台", CONSOLE_PERM, "console", flow=flows.console_cmd, private_only=True,
            aliases=("登录后台",)),
    group="网页后台",
    console=ConsolePart(
        router=pages.router, order=90,
        nav=(("群", "/console/groups", "staff"), ("隔离", "/console/quarantine", "staff"),
             ("事件", "/console/incidents", "staff"), ("协查/任务", "/console/tasks", "staff"),
             ("审计", "/console/audit", "supervisor")),
        cards=(pages.events_card, pages.outbox_card),
        static=Path(__file__).with_name("static"),
    ),
)
