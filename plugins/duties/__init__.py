"""Recurring duties (任务: 消杀, 演练): ``/任务`` defines one, ``/完成`` checks a
unit in, and the leaders of units not done are reminded once the same day."""

from __future__ import annotations

from bot.kit import Command, plugin_meta
from bot.permissions import LEADER_PERM, STAFF_PERM
from plugins.duties import flows, jobs

__plugin_meta__ = plugin_meta(
    "duties", "Recurring duties: occurrences, check-in, laggard reminders.",
    Command("任务", STAFF_PERM, "duty", flow=flows.duty_cmd),
    Command("完成", LEADER_PERM, "duty_done", flow=flows.done_cmd),
    group="任务", scheduler=jobs.HOOKS,
)
