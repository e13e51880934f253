"""Command declarations shared by the plugins and read by /帮助.

A plugin lists its commands in `PluginMetadata.extra["commands"]`; /帮助 shows
a sender exactly those whose permission they hold.
"""

from __future__ import annotations

from dataclasses import dataclass

from nonebot.permission import Permission


@dataclass(frozen=True)
class CommandSpec:
    name: str  # without the leading "/"
    permission: Permission
    usage: str  # template name under messages/templates/usage/
    group: str = ""  # heading in /帮助


def declared_commands() -> list[CommandSpec]:
    import nonebot

    specs: list[CommandSpec] = []
    for plugin in sorted(nonebot.get_loaded_plugins(), key=lambda p: p.id_):
        meta = plugin.metadata
        if meta and isinstance(meta.extra, dict):
            specs.extend(meta.extra.get("commands", []))
    return specs
