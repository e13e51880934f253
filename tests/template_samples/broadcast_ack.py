"""Structured sample contexts for the broadcast acknowledgement templates."""

from types import SimpleNamespace

from tests.template_samples import HOSTILE as H
from tests.template_samples import NOW

_BC = SimpleNamespace(id=H, text=H, created_by=H)

SAMPLES = {
    "broadcast/ack_chase": {"bc": _BC, "sent_at": NOW},
    "broadcast/ack_chased": {"bc": _BC, "total": 30, "acked": 5, "silent": [H] * 25},
}
