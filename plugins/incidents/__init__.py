"""Incidents (事件): ``/事件`` alerts the 应急小分队, ``/处理`` acknowledges,
``/办结`` closes; unacknowledged ones escalate to staff (DESIGN.md §3)."""

from __future__ import annotations

from bot.kit import Command, plugin_meta
from plugins.incidents import flows, jobs
from plugins.incidents.flows import REPORT_PERM, RESPONDER_PERM

__plugin_meta__ = plugin_meta(
    "incidents", "Incidents: alert the squad, acknowledge, close, escalate when ignored.",
    Command("事件", REPORT_PERM, "incident", flow=flows.incident_cmd),
    Command("处理", RESPONDER_PERM, "incident_ack", flow=flows.ack_cmd),
    Command("办结", RESPONDER_PERM, "incident_close", flow=flows.close_cmd),
    group="隔离与事件", scheduler=jobs.HOOKS,
)

__all__ = ["REPORT_PERM", "RESPONDER_PERM"]
