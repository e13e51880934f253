"""The trigger chain (预警): ``/预警 <地区>`` asks every work group to acknowledge
within 2 h (``/收到 <编号>``) and opens a 48 h screening round over all units;
reminders before each deadline, escalation to the 综合协调组 when one is missed."""

from __future__ import annotations

from bot.kit import Command, plugin_meta
from bot.permissions import MEMBER_PERM, STAFF_PERM
from plugins.alerts import flows, jobs

__plugin_meta__ = plugin_meta(
    "alerts", "Trigger chain: 2 h acknowledgements, a 48 h screening round, escalation.",
    Command("预警", STAFF_PERM, "alert", flow=flows.alert_cmd),
    Command("收到", MEMBER_PERM, "alert_ack", flow=flows.ack_cmd),
    group="时限与预警", scheduler=jobs.HOOKS,
)
