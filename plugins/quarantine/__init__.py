"""Home quarantine (居家隔离): ``/隔离 登记|列表|解除`` and ``/健康``, private chat only.

Daily health-check reminders and the end date go privately to the unit's
leader; a fever or symptoms alert the 四人一专班 (unit and masked name only).
Nothing of it ever reaches a resident group (DESIGN.md §4).
"""

from __future__ import annotations

from bot.kit import Command, plugin_meta
from bot.permissions import LEADER_PERM
from plugins.quarantine import flows, jobs

__plugin_meta__ = plugin_meta(
    "quarantine", "Home quarantine: registration, health-check reminders, fever alerts.",
    Command("隔离", LEADER_PERM, "quarantine", flow=flows.quarantine_cmd, private_only=True),
    Command("健康", LEADER_PERM, "health", flow=flows.health_cmd, private_only=True),
    group="隔离与事件", usage="/隔离 登记|列表|解除 /健康", scheduler=jobs.HOOKS,
)
