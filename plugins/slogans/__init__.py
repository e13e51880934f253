"""Slogans (标语): a library rotated to the resident groups at the configured times."""

from __future__ import annotations

from bot.kit import Command, plugin_meta
from bot.permissions import STAFF_PERM
from plugins.slogans import flows, jobs

__plugin_meta__ = plugin_meta(
    "slogans", "Slogan library rotated to resident groups at set times.",
    Command("标语", STAFF_PERM, "slogan", "宣传", flow=flows.slogan_cmd),
    usage="/标语 添加|列表|删除|时间", scheduler=jobs.HOOKS,
)
