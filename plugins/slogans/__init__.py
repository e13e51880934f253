"""Slogans (标语): a library rotated to the resident groups at the configured times."""

from __future__ import annotations

from nonebot.plugin import PluginMetadata

from bot.kit import Command
from bot.permissions import STAFF_PERM
from plugins.slogans import flows, jobs

__plugin_meta__ = PluginMetadata(
    name="slogans",
    description="Slogan library rotated to resident groups at set times.",
    usage="/标语 添加|列表|删除|时间",
    extra={
        "commands": [Command("标语", STAFF_PERM, "slogan", "宣传", flow=flows.slogan_cmd)],
        "scheduler": jobs.HOOKS,
    },
)
