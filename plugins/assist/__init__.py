"""协查函 (协查): ``/协查 <函号> [说明]`` gives the 流调组 24 hours, with reminders
at +12/+20/+23 h and escalation to the 流调组 and staff when overdue;
``/协查 完成 <函号>`` closes it (DESIGN.md §1, §3)."""

from __future__ import annotations

from nonebot.plugin import PluginMetadata

from bot.kit import Command
from plugins.assist import flows, jobs
from plugins.assist.flows import ASSIST_PERM

__plugin_meta__ = PluginMetadata(
    name="assist",
    description="Investigation-assist letters: 24 h tasks with reminders and escalation.",
    usage="/协查",
    extra={
        "commands": [
            Command("协查", ASSIST_PERM, "assist", "时限与预警", flow=flows.assist_cmd),
        ],
        "scheduler": jobs.HOOKS,
    },
)
