"""Incidents (事件): ``/事件`` alerts the 应急小分队, ``/处理`` acknowledges,
``/办结`` closes; unacknowledged ones escalate to staff (DESIGN.md §3)."""

from __future__ import annotations

from nonebot.plugin import PluginMetadata

from bot.kit import Command
from plugins.incidents import flows, jobs
from plugins.incidents.flows import REPORT_PERM, RESPONDER_PERM

__plugin_meta__ = PluginMetadata(
    name="incidents",
    description="Incidents: alert the squad, acknowledge, close, escalate when ignored.",
    usage="/事件 /处理 /办结",
    extra={
        "commands": [
            Command("事件", REPORT_PERM, "incident", "隔离与事件", flow=flows.incident_cmd),
            Command("处理", RESPONDER_PERM, "incident_ack", "隔离与事件", flow=flows.ack_cmd),
            Command("办结", RESPONDER_PERM, "incident_close", "隔离与事件", flow=flows.close_cmd),
        ],
        "scheduler": jobs.HOOKS,
    },
)

__all__ = ["REPORT_PERM", "RESPONDER_PERM"]
