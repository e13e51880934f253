"""Roster: who is who, which group is which, and who may do what."""

from __future__ import annotations

from bot.console import ConsolePart
from bot.kit import Command, no_arguments, plugin_meta
from bot.permissions import ADMIN_PERM, EVERYONE, STAFF_PERM
from plugins.roster import console, flows

__plugin_meta__ = plugin_meta(
    "roster", "Roster: help, own info, group binding, appointments, invites.",
    Command("帮助", EVERYONE, "help", "基础", flow=flows.help_cmd, aliases=("help", "菜单"),
            bare=no_arguments),
    Command("我的信息", EVERYONE, "myinfo", "基础", flow=flows.info_cmd),
    Command("绑定", EVERYONE, "redeem", "基础", flow=flows.redeem_cmd),
    Command("绑定群", STAFF_PERM, "bind_group", flow=flows.bind_group_cmd),
    Command("解绑群", STAFF_PERM, "unbind_group", flow=flows.unbind_group_cmd),
    Command("绑定推送", STAFF_PERM, "bind_webhook", flow=flows.bind_webhook_cmd),
    Command("解绑推送", STAFF_PERM, "unbind_webhook", flow=flows.unbind_webhook_cmd),
    Command("邀请", STAFF_PERM, "invite", flow=flows.invite_cmd),
    Command("任命", ADMIN_PERM, "appoint", flow=flows.appoint_cmd),
    Command("撤销", ADMIN_PERM, "revoke", flow=flows.revoke_cmd),
    group="花名册", usage="/帮助 /我的信息 /绑定群 /解绑群 /任命 /撤销 /邀请 /绑定",
    console=ConsolePart(router=console.router, order=20,
                        nav=(("名册", "/console/roster", "staff"),)),
)

