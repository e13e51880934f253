"""Supervision (督查) for the 纪检监督组: a record of duty derived from the tables that
already exist, summarised on request and every week to the 纪检监督组 group
(DESIGN.md; issue 14)."""

from __future__ import annotations

from bot.console import ConsolePart
from bot.kit import Command, plugin_meta
from bot.permissions import role_permission
from plugins.supervision import console, flows, jobs
from storage.repo import ADMIN

SUPERVISE_PERM = role_permission(ADMIN, flows.SUPERVISION_TEAM)

__plugin_meta__ = plugin_meta(
    "supervision", "The duty record: who did their duty on time (督查).",
    # Names people: private chats, or the 纪检监督组's own group (a team group).
    Command("督查", SUPERVISE_PERM, "supervise", flow=flows.supervise_cmd),
    group="督查", scheduler=jobs.HOOKS,
    # 管理员 and the 纪检监督组 (Viewer.supervises), like the audit log.
    console=ConsolePart(router=console.router, order=80,
                        nav=(("督查", "/console/supervision", "supervisor"),)),
)
