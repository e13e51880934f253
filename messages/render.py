"""The one place user-facing sentences come from: sandboxed Jinja2 templates.

Values are inserted, never evaluated: user text passed in the context cannot
become template code, and the output is always sent as a plain text segment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from ground.timeutil import fmt
from messages.mask import mask_id, mask_name, mask_phone, scrub

TEMPLATE_DIR = Path(__file__).with_name("templates")


class Renderer:
    def __init__(self, template_dir: Path = TEMPLATE_DIR) -> None:
        self.env = SandboxedEnvironment(
            loader=FileSystemLoader(str(template_dir)),
            autoescape=False,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            # Templates ship with the code: no stat() of the file at every render.
            auto_reload=False,
        )
        self.env.filters.update(
            mask_name=mask_name, mask_phone=mask_phone, mask_id=mask_id, fmt_time=fmt,
            scrub=scrub,
        )
        self.template_dir = template_dir

    def render(self, name: str, **context: Any) -> str:
        return self.env.get_template(f"{name}.j2").render(**context).strip()

    def names(self) -> list[str]:
        return sorted(
            str(p.relative_to(self.template_dir).with_suffix("")).replace("\\", "/")
            for p in self.template_dir.rglob("*.j2")
        )
