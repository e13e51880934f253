"""One router: every declared command is routed, and only a handful of NoneBot
matchers exist (NoneBot checks every matcher's rule for every message)."""

from __future__ import annotations

from bot.runtime import Runtime
from tests.onebot import OneBotPeer


def test_at_most_three_matchers_are_loaded() -> None:
    from nonebot.matcher import matchers

    loaded = [m for by_priority in matchers.values() for m in by_priority]
    assert 1 <= len(loaded) <= 3, [(m.plugin_name, m.type) for m in loaded]


def test_every_declared_command_has_a_flow_and_is_routed() -> None:
    from bot.kit import declared_commands
    from bot.router import routed_commands

    declared = declared_commands()
    assert declared and all(c.flow is not None for c in declared)
    table = routed_commands()
    for command in declared:
        for name in (command.name, *command.aliases):
            assert table[(name,)] is command


async def test_private_only_commands_answer_a_group_before_any_check(
    peer: OneBotPeer, street: Runtime
) -> None:
    await peer.ask(10001, "/绑定群 幸福社区 工作群", group_id=790001)
    for user in (55555, 30011, 10001):  # a resident, a unit leader, the 管理员
        sent = await peer.ask(user, "/隔离 列表", group_id=790001)
        assert sent.text == street.renderer.render("common/private_only")


def test_no_test_module_imports_a_plugin_at_import_time() -> None:
    """A plugin module imported while tests are collected is no longer loaded by
    NoneBot as a plugin (its commands and jobs silently vanish): import inside tests."""
    import ast
    from pathlib import Path

    offenders = []
    for path in sorted(Path(__file__).parent.rglob("*.py")):
        if "node_modules" in path.parts:
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            if any(n == "plugins" or n.startswith("plugins.") for n in names):
                offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []
