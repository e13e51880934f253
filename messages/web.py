"""The web console's pages: sandboxed Jinja2 HTML templates under messages/console/.

Unlike chat templates these escape every value (autoescape): a name or a note typed
in a chat is shown as text, never as markup or script.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from ground.timeutil import fmt, local
from messages.mask import mask_id, mask_name, mask_phone, scrub

PAGE_DIR = Path(__file__).with_name("console")


def _json_attr(value: Any) -> Markup:
    """A value as JSON for a data- attribute (escaped there by autoescape)."""
    return json.dumps(value, ensure_ascii=False)  # type: ignore[return-value]


def _full_time(dt: Any) -> str:
    return "" if dt is None else local(dt).strftime("%Y-%m-%d %H:%M")


class PageRenderer:
    def __init__(self, page_dir: Path = PAGE_DIR) -> None:
        self.env = SandboxedEnvironment(
            loader=FileSystemLoader(str(page_dir)),
            autoescape=select_autoescape(default=True, default_for_string=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(
            mask_name=mask_name, mask_phone=mask_phone, mask_id=mask_id, scrub=scrub,
            fmt_time=lambda dt: "" if dt is None else fmt(dt), full_time=_full_time,
            json_attr=_json_attr,
        )
        self.page_dir = page_dir

    def render(self, name: str, **context: Any) -> str:
        return self.env.get_template(f"{name}.html").render(**context)
