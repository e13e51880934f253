"""Recurring duties (任务: 消杀, 演练): ``/任务`` defines one, ``/完成`` checks a
unit in, and the leaders of units not done are reminded once the same day."""

from __future__ import annotations

from nonebot.plugin import PluginMetadata

from bot.kit import Command
from bot.permissions import LEADER_PERM, STAFF_PERM
from plugins.duties import flows, jobs

__plugin_meta__ = PluginMetadata(
    name="duties",
    description="Recurring duties: occurrences, check-in, laggard reminders.",
    usage="/任务 /完成",
    extra={
        "commands": [
            Command("任务", STAFF_PERM, "duty", "任务", flow=flows.duty_cmd),
            Command("完成", LEADER_PERM, "duty_done", "任务", flow=flows.done_cmd),
        ],
        "scheduler": jobs.HOOKS,
    },
)
