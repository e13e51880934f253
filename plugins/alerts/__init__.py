"""The trigger chain (预警): ``/预警 <地区>`` asks every work group to acknowledge
within 2 h (``/收到 <编号>``) and opens a 48 h screening round over all units;
reminders before each deadline, escalation to the 综合协调组 when one is missed."""

from __future__ import annotations

from nonebot.plugin import PluginMetadata

from bot.kit import Command
from bot.permissions import MEMBER_PERM, STAFF_PERM
from plugins.alerts import flows, jobs

__plugin_meta__ = PluginMetadata(
    name="alerts",
    description="Trigger chain: 2 h acknowledgements, a 48 h screening round, escalation.",
    usage="/预警 /收到",
    extra={
        "commands": [
            Command("预警", STAFF_PERM, "alert", "时限与预警", flow=flows.alert_cmd),
            Command("收到", MEMBER_PERM, "alert_ack", "时限与预警", flow=flows.ack_cmd),
        ],
        "scheduler": jobs.HOOKS,
    },
)
