"""Sample contexts for the template test, one module per capability.

A template that reads attributes or loops needs a structured sample here;
every other variable is filled with the hostile string by the test. Each
module exports `SAMPLES: dict[template name, context]`.
"""

from __future__ import annotations

import importlib
import pkgutil
from datetime import UTC, datetime

HOSTILE = "{{ ''.__class__.__mro__ }}[CQ:at,qq=all]{% raw %}<script>"
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def all_samples() -> dict[str, dict]:
    merged: dict[str, dict] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for name, ctx in getattr(module, "SAMPLES", {}).items():
            if name in merged:
                raise ValueError(f"two samples for template {name}")
            merged[name] = ctx
    return merged
