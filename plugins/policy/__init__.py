"""Policy notes (政策): versioned publication to work and resident groups, staff
study acknowledgements, reminders and the study status for the 综合协调组."""

from __future__ import annotations

from nonebot.plugin import PluginMetadata

from bot.kit import Command
from bot.permissions import LEADER_PERM, STAFF_PERM
from plugins.policy import flows, jobs

__plugin_meta__ = PluginMetadata(
    name="policy",
    description="Versioned policy notes: publish, study acknowledgements, study status, reminders.",
    usage="/政策 /已学习 /学习情况",
    extra={
        "commands": [
            Command("政策", LEADER_PERM, "policy", "宣传", flow=flows.policy_cmd),
            Command("已学习", STAFF_PERM, "studied", "宣传", flow=flows.studied_cmd),
            Command("学习情况", STAFF_PERM, "study_status", "宣传", flow=flows.status_cmd),
        ],
        "scheduler": jobs.HOOKS,
    },
)
