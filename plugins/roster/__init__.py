"""Roster: who is who, which group is which, and who may do what."""

from __future__ import annotations

from nonebot.plugin import PluginMetadata

from bot.kit import Command
from bot.permissions import ADMIN_PERM, EVERYONE, STAFF_PERM
from plugins.roster import flows

__plugin_meta__ = PluginMetadata(
    name="roster",
    description="Roster: help, own info, group binding, appointments, invites.",
    usage="/帮助 /我的信息 /绑定群 /解绑群 /任命 /撤销 /邀请 /绑定",
    extra={
        "commands": [
            Command("帮助", EVERYONE, "help", "基础", flow=flows.help_cmd,
                    aliases=("help", "菜单")),
            Command("我的信息", EVERYONE, "myinfo", "基础", flow=flows.info_cmd),
            Command("绑定", EVERYONE, "redeem", "基础", flow=flows.redeem_cmd),
            Command("绑定群", STAFF_PERM, "bind_group", "花名册", flow=flows.bind_group_cmd),
            Command("解绑群", STAFF_PERM, "unbind_group", "花名册", flow=flows.unbind_group_cmd),
            Command("绑定推送", STAFF_PERM, "bind_webhook", "花名册", flow=flows.bind_webhook_cmd),
            Command("解绑推送", STAFF_PERM, "unbind_webhook", "花名册",
                    flow=flows.unbind_webhook_cmd),
            Command("邀请", STAFF_PERM, "invite", "花名册", flow=flows.invite_cmd),
            Command("任命", ADMIN_PERM, "appoint", "花名册", flow=flows.appoint_cmd),
            Command("撤销", ADMIN_PERM, "revoke", "花名册", flow=flows.revoke_cmd),
        ]
    },
)

