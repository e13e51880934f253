"""Reminders (提醒): ``/提醒 <时间> <内容>`` to the chat it was typed in, once or
every day; plus the staff report of what a downtime made the scheduler miss."""

from __future__ import annotations

from bot.kit import Command, plugin_meta
from bot.permissions import LEADER_PERM
from plugins.reminders import flows, jobs

__plugin_meta__ = plugin_meta(
    "reminders", "Reminders to a group or privately; missed ones reported to staff.",
    Command("提醒", LEADER_PERM, "reminder", "时限与预警", flow=flows.remind_cmd),
    scheduler=jobs.HOOKS,
)
