"""Command declarations shared by the plugins and read by /帮助.

A plugin lists its commands in `PluginMetadata.extra["commands"]`; /帮助 shows
a sender exactly those whose permission they hold.
"""

from __future__ import annotations

from bot.kit import Command

# A declaration without a flow: the capability still answers through its own matcher.
CommandSpec = Command


def declared_commands() -> list[Command]:
    import nonebot

    specs: list[Command] = []
    for plugin in sorted(nonebot.get_loaded_plugins(), key=lambda p: p.id_):
        meta = plugin.metadata
        if meta and isinstance(meta.extra, dict):
            specs.extend(meta.extra.get("commands", []))
    return specs
