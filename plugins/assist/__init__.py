"""协查函 (协查): ``/协查 <函号> [说明]`` gives the 流调组 24 hours, with reminders
at +12/+20/+23 h and escalation to the 流调组 and staff when overdue;
``/协查 完成 <函号>`` closes it (DESIGN.md §1, §3)."""

from __future__ import annotations

from bot.kit import Command, plugin_meta
from plugins.assist import flows, jobs
from plugins.assist.flows import ASSIST_PERM

__plugin_meta__ = plugin_meta(
    "assist", "Investigation-assist letters: 24 h tasks with reminders and escalation.",
    Command("协查", ASSIST_PERM, "assist", "时限与预警", flow=flows.assist_cmd),
    scheduler=jobs.HOOKS,
)
