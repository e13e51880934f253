"""Policy notes (政策): versioned publication to work and resident groups, staff
study acknowledgements, reminders and the study status for the 综合协调组."""

from __future__ import annotations

from bot.kit import Command, plugin_meta
from bot.permissions import IN_RESIDENT_GROUP, LEADER_PERM, STAFF_PERM
from plugins.policy import flows, jobs

__plugin_meta__ = plugin_meta(
    "policy", "Versioned policy notes: publish, study acknowledgements, study status, reminders.",
    # Residents read the public notices in their group (the notice text only).
    Command("政策", LEADER_PERM | IN_RESIDENT_GROUP, "policy", flow=flows.policy_cmd),
    Command("已学习", STAFF_PERM, "studied", flow=flows.studied_cmd),
    Command("学习情况", STAFF_PERM, "study_status", flow=flows.status_cmd),
    group="宣传", scheduler=jobs.HOOKS,
)
