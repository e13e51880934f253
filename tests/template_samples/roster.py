"""Structured sample contexts for roster templates (hostile strings everywhere)."""

from types import SimpleNamespace

from tests.template_samples import HOSTILE as H
from tests.template_samples import NOW

SAMPLES = {
    "roster/help": {"groups": [(H, [{"name": H, "line": H}]), ("", [{"name": H, "line": H}])],
                    "daily": [{"name": H, "line": H}], "frequent": [{"name": H, "line": H}]},
    "roster/myinfo": {
        "info": SimpleNamespace(
            account=H, name=H, roles=[(H, H, NOW), (H, H, None)], teams=[H], accounts=[H]
        ),
        "superuser": True,
    },
    "roster/appoint_ok": {
        "a": SimpleNamespace(
            team=False, account=H, person_name=H, role=H, scope_label=H, expires_at=NOW
        )
    },
    "roster/invite_ok": {
        "i": SimpleNamespace(code=H, person_name=H, role=H, scope_label=H, expires_at=NOW)
    },
    "roster/rebind_notice": {
        "r": SimpleNamespace(person_name=H, role=H, scope_label=H, rebound_from=[H, H]),
        "new_account": H,
    },
    "roster/redeem_ok": {
        "r": SimpleNamespace(person_name=H, role=H, scope_label=H, rebound_from=[H])
    },
}
