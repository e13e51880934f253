"""Structured sample contexts for slogan templates."""

from types import SimpleNamespace

from tests.template_samples import HOSTILE as H
from tests.template_samples import NOW

_SLOGAN = SimpleNamespace(id=H, text=H, created_by=H)

SAMPLES = {
    "slogans/push": {"slogan": _SLOGAN},
    "slogans/added": {"slogan": _SLOGAN, "total": 3, "times": [H, H]},
    "slogans/deleted": {"slogan": _SLOGAN, "remaining": 0},
    "slogans/list": {"slogans": [_SLOGAN, _SLOGAN], "times": [H, H], "next_at": NOW},
    "slogans/times": {"times": [H, H], "next_at": NOW, "total": 0},
}
