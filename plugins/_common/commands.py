"""Kept for the plugins' imports: command declarations live in the kit (bot.kit)."""

from bot.kit import Command, declared_commands

# A declaration without a flow: the capability still answers through its own matcher.
CommandSpec = Command

__all__ = ["Command", "CommandSpec", "declared_commands"]
