"""Structured sample contexts for the reminder, alert (预警) and 协查 templates."""

from types import SimpleNamespace as NS

from tests.template_samples import HOSTILE as H
from tests.template_samples import NOW

_REMINDER = NS(id=3, text=H, due_at=NOW, daily_minute=None, chat_kind="group", target=H)
_DAILY = NS(**{**_REMINDER.__dict__, "daily_minute": 8 * 60 + 5})
_ALERT = NS(id=2, region=H, created_at=NOW, ack_deadline=NOW, round_deadline=NOW)
_ROUND = NS(id=7, title=H, deadline=NOW)
_OPENED = NS(round=_ROUND, units=7, households=138)
_STARTED = NS(alert=_ALERT, groups=[1, 2], labels=[H, H], opened=_OPENED)
_LEADERS = [NS(name=H, role=H), NS(name=H, role=H)]
_MISSING = [NS(community=H, label=H, leaders=_LEADERS), NS(community=H, label=H, leaders=[])]
_TASK = NS(id=4, letter_no=H, note=H, due_at=NOW, escalated_at=NOW)
_ITEM = NS(due_at=NOW)

SAMPLES = {
    "reminders/created": {"r": _DAILY, "private": False, "daily": True},
    "reminders/due": {"r": _REMINDER, "late": True, "due_at": NOW, "daily": False},
    "reminders/list": {"reminders": [_REMINDER, _DAILY], "total": 30, "private": False,
                       "previews": [H, H]},
    "reminders/cancelled": {"r": _REMINDER},
    "reminders/error": {"code": "past", "when": NOW, "days": 366, "limit": 50, "number": 3,
                        "state": "sent"},
    "reminders/describe": {"r": _REMINDER, "where": H, "preview": H},
    "reminders/missed": {"items": [NS(text=H, item=_ITEM, interrupted=True),
                                   NS(text=H, item=_ITEM, interrupted=False)]},
    "alerts/started": {"st": _STARTED},
    "alerts/notice": {"st": _STARTED, "work": False},
    "alerts/acked": {"k": NS(alert=_ALERT, minutes=12, late=True, remaining=1, total=3)},
    "alerts/all_acked": {"a": _ALERT, "total": 3},
    "alerts/ack_remind": {"a": _ALERT, "late": True, "minutes_left": 30},
    "alerts/escalated": {"a": _ALERT, "silent": [H, H], "total": 3, "late": True},
    "alerts/round_overdue": {"a": _ALERT, "rnd": _ROUND, "missing": _MISSING,
                             "missing_total": 50, "units": 70, "late": True},
    "alerts/error": {"code": "ambiguous", "numbers": [1, 2], "number": 2, "at": NOW,
                     "minutes": 5},
    "alerts/describe": {"a": _ALERT, "kind": "ack_deadline"},
    "assist/created": {"t": _TASK, "team_groups": 0, "team_accounts": 2},
    "assist/new": {"t": _TASK},
    "assist/remind": {"t": _TASK, "hours_left": 4, "late": True},
    "assist/overdue": {"t": _TASK, "late": True},
    "assist/done": {"d": NS(task=_TASK, cancelled=[1, 2], overdue_minutes=75), "notice": False},
    "assist/list": {"tasks": [_TASK, NS(**{**_TASK.__dict__, "escalated_at": None})],
                    "total": 40},
    "assist/error": {"code": "exists", "letter": H, "state": "done", "due_at": NOW,
                     "done_at": NOW},
    "assist/describe": {"t": _TASK, "overdue": False, "hours_left": 4},
}
