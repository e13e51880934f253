"""The README's command table lists exactly the commands the plugins declare
(the same declarations /帮助 reads)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_commands() -> set[str]:
    section = README.read_text(encoding="utf-8").split("## Commands", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            first_cell = line.split(" | ")[0]
            names.update(m.group(1) for m in re.finditer(r"`/([^\s`\\]+)", first_cell))
    return names


def test_readme_command_table_matches_the_declarations() -> None:
    from bot.kit import declared_commands

    declared = {c.name for c in declared_commands()}
    assert len(declared) > 30
    assert readme_commands() == declared
