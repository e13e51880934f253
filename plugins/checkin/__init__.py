"""Check-ins (排查打卡): screening rounds that leaders report into, with
progress, laggard chasing, escalation and export (DESIGN.md §3)."""

from __future__ import annotations

from bot.asks import Ask
from bot.console import ConsolePart
from bot.kit import Command, Outcome, Sender, deliver, no_arguments, plugin_meta, sender_of
from bot.permissions import LEADER_PERM, STAFF_PERM
from plugins.checkin import console, flows, jobs, relay

__plugin_meta__ = plugin_meta(
    "checkin", "Screening rounds: open, report, progress, chase laggards, export, close.",
    Command("排查", STAFF_PERM, "checkin_open", flow=flows.open_cmd),
    Command("打卡", LEADER_PERM, "checkin_report", flow=flows.report_cmd,
            bare=flows.takes_report, daily=True,
            meant_by=(("撤回", "打卡 撤销"), ("撤消", "打卡 撤销"))),
    # A pasted 接龙 list: /接龙 [#N] or #接龙, then one numbered line per unit.
    Command("接龙", LEADER_PERM, "checkin_relay", flow=flows.relay_cmd,
            aliases=relay.HEADS, bare=flows.takes_relay),
    Command("我的打卡", LEADER_PERM, "checkin_mine", flow=flows.mine_cmd,
            bare=no_arguments, daily=True),
    Command("进度", LEADER_PERM, "checkin_progress", flow=flows.progress_cmd,
            bare=flows.takes_round_ref, daily=True),
    Command("未报", STAFF_PERM, "checkin_missing", flow=flows.missing_cmd,
            bare=flows.takes_round_ref),
    Command("催报", STAFF_PERM, "checkin_chase", flow=flows.chase_cmd),
    Command("导出", STAFF_PERM, "checkin_export", flow=flows.export_cmd),
    Command("结束", STAFF_PERM, "checkin_close", flow=flows.close_cmd),
    Command("抽查", STAFF_PERM, "checkin_spot", flow=flows.spot_cmd),
    Command("核实", LEADER_PERM, "checkin_verify", flow=flows.verify_cmd, private_only=True),
    group="排查打卡", scheduler=jobs.HOOKS,
    console=ConsolePart(router=console.router, order=10, cards=(console.rounds_card,),
                        nav=(("排查", "/console/rounds", "leader"),)),
    # Asked before they run: a second round with the same title and scope within
    # 10 minutes, /结束 with units unreported.
    asks=(
        Ask(flows.ASK_OPEN, "发起", "checkin/ask_open_line", run=flows.open_confirmed),
        Ask(flows.ASK_CLOSE, "结束", "checkin/ask_close_line", run=flows.close_confirmed),
    ),
)

# The flows are routed by bot.router; the kit's pieces are re-exported for tests.
__all__ = ["Outcome", "Sender", "deliver", "sender_of"]
