"""Structured sample contexts for broadcast templates."""

from types import SimpleNamespace

from tests.template_samples import HOSTILE as H
from tests.template_samples import NOW

_BC = SimpleNamespace(id=H, urgent=True, scope_label=H, text=H, ack_required=True, not_before=NOW)

SAMPLES = {
    "broadcast/preview": {
        "p": SimpleNamespace(
            broadcast=_BC, labels=[H] * 12, estimate_s=125.0, queued_ahead=3, held_until=NOW,
            duplicate=True,
        )
    },
    "broadcast/started": {"bc": _BC, "n": 3},
    "broadcast/cancelled": {"bc": _BC, "stopped": 2},
    "broadcast/report": {
        "r": SimpleNamespace(
            broadcast=_BC, done=True, counts={"sent": 1, "failed": 1, "unknown": 1,
                                              "pending": 1, "cancelled": 1},
            acked=1, problems=[(H, "failed", H), (H, "unknown", H)],
        ),
        "show_list": True,
    },
}
SAMPLES |= {
    "broadcast/pending_list": {
        "items": [SimpleNamespace(id=3, scope_label=H, text=H), SimpleNamespace(id=4,
                  scope_label=H, text="短")],
        "asks": [SimpleNamespace(ask=SimpleNamespace(word="发起", line="checkin/ask_open_line"),
                                 payload={"title": H})],
        "command": "确认",
    },
}
