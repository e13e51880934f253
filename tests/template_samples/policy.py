"""Structured sample contexts for policy templates."""

from types import SimpleNamespace

from tests.template_samples import HOSTILE as H
from tests.template_samples import NOW

_P = SimpleNamespace(id=H, title=H, version=2, body=H, published_by=H, published_at=NOW)

SAMPLES = {
    "policy/full": {"p": _P},
    "policy/notice": {"p": _P},
    "policy/remind": {"p": _P},
    "policy/show": {"p": _P, "newer": _P},
    "policy/list": {"policies": [_P, _P]},
    "policy/public_list": {"policies": [_P, _P]},
    "policy/published": {
        "pub": SimpleNamespace(
            policy=_P, work_groups=[H], resident_groups=[H, H], notice_held_until=NOW,
            remind=SimpleNamespace(due_at=NOW),
        )
    },
    "policy/studied": {"d": SimpleNamespace(policy=_P, already=False, newer=_P)},
    "policy/status": {
        "st": SimpleNamespace(
            policy=_P, total=3, studied=1, newer=_P,
            pending=[SimpleNamespace(name=H, accounts=[]), SimpleNamespace(name=H, accounts=[H])],
        ),
        "reminder": True,
    },
}
