"""Check-ins (排查打卡): screening rounds that leaders report into, with
progress, laggard chasing, escalation and export (DESIGN.md §3)."""

from __future__ import annotations

from nonebot.plugin import PluginMetadata

from bot.kit import Command, Outcome, Sender, deliver, sender_of
from bot.permissions import LEADER_PERM, STAFF_PERM
from plugins.checkin import flows, jobs

__plugin_meta__ = PluginMetadata(
    name="checkin",
    description="Screening rounds: open, report, progress, chase laggards, export, close.",
    usage="/排查 /打卡 /进度 /未报 /催报 /导出 /结束",
    extra={
        "commands": [
            Command("排查", STAFF_PERM, "checkin_open", "排查打卡", flow=flows.open_cmd),
            Command("打卡", LEADER_PERM, "checkin_report", "排查打卡", flow=flows.report_cmd),
            Command("进度", LEADER_PERM, "checkin_progress", "排查打卡", flow=flows.progress_cmd),
            Command("未报", STAFF_PERM, "checkin_missing", "排查打卡", flow=flows.missing_cmd),
            Command("催报", STAFF_PERM, "checkin_chase", "排查打卡", flow=flows.chase_cmd),
            Command("导出", STAFF_PERM, "checkin_export", "排查打卡", flow=flows.export_cmd),
            Command("结束", STAFF_PERM, "checkin_close", "排查打卡", flow=flows.close_cmd),
        ],
        "scheduler": jobs.HOOKS,
    },
)

# The flows are routed by bot.router; the kit's pieces are re-exported for tests.
__all__ = ["Outcome", "Sender", "deliver", "sender_of"]
