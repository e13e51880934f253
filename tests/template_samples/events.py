"""Structured sample contexts for the quarantine, incident and duty templates."""

from types import SimpleNamespace as NS

from tests.template_samples import HOSTILE as H
from tests.template_samples import NOW

_ENTRY = NS(
    id=3, unit=H, place=H, room=H, who=H, start=H, end=H, days=14, state="active", day_no=2,
    ended=False, last_temp=H, last_at=NOW, checked_today=False, same_temp_days=5,
)
_ENDED = NS(**{**_ENTRY.__dict__, "ended": True, "checked_today": True})
_CHECKED = NS(entry=_ENTRY, temp=H, symptoms=H, fever=True, threshold=H, abnormal=True,
              alerted=False, alert_groups=[], alert_accounts=[])
_INCIDENT = NS(
    id=5, kind=H, place=H, room=H, note=H, reporter=H, reported_at=NOW, state="acked",
    acked_by=H, acked_at=NOW, ack_minutes=4, escalated=True, closed_at=NOW, close_minutes=40,
    result=H, waiting_minutes=16,
)
_OPEN = NS(**{**_INCIDENT.__dict__, "state": "open"})
_DUTY = NS(id=2, name=H, when=H, scope_label=H, active=True, next_at=NOW, done=3, total=7,
           last_at=NOW)
_OCC = NS(id=9, starts_at=NOW, chase_at=NOW)
_LEADERS = [NS(name=H, role=H), NS(name=H, role=H)]

SAMPLES = {
    "quarantine/registered": {
        "r": NS(entry=_ENTRY, items=[1], reminders_to=0, first_reminder=NOW), "time": H,
    },
    "quarantine/list": {"listing": NS(entries=[_ENTRY, _ENDED], total=60)},
    "quarantine/released": {"r": NS(entry=_ENTRY, cancelled=[1, 2])},
    "quarantine/error": {"code": "days", "days": H, "low": 1, "high": 60, "unit": H,
                         "end": H, "limit": 30, "number": H},
    "quarantine/remind": {"e": _ENTRY, "day_no": 2},
    "quarantine/end": {"e": _ENTRY},
    "quarantine/health_ok": {"c": _CHECKED},
    "quarantine/health_alert": {"c": _CHECKED, "private": True},
    "usage/health": {"threshold": H},
    "incidents/alert": {"r": NS(incident=_INCIDENT, alert_groups=[1], minutes=15)},
    "incidents/reported": {"r": NS(incident=_INCIDENT, alert_groups=[], minutes=15),
                           "private": True},
    "incidents/escalated": {"i": _OPEN},
    "incidents/acked": {"i": _INCIDENT, "private": False, "notice": False},
    "incidents/closed": {"i": _INCIDENT, "private": False, "notice": False},
    "incidents/detail": {"i": _INCIDENT},
    "incidents/list": {"incidents": [_INCIDENT, _OPEN], "total": 40, "private": True},
    "incidents/error": {"code": "already_acked", "number": 5, "by": H, "at": NOW},
    "usage/incident": {"minutes": 15},
    "duties/created": {"c": NS(duty=_DUTY, item=1, units=7), "hours": H},
    "duties/occurrence": {
        "o": NS(duty=_DUTY, occurrence=_OCC, places=[1, 2, 3], buildings=[H] * 41),
    },
    "duties/chase": {
        "c": NS(duty=_DUTY, occurrence=_OCC, laggards=2, total=7),
        "p": NS(units=[NS(label=H, leaders=_LEADERS), NS(label=H, leaders=[])], part=1, parts=2),
    },
    "duties/done": {"d": NS(duty=_DUTY, occurrence=_OCC, marked=[H, H], done=3, total=7)},
    "duties/list": {"duties": [_DUTY, NS(**{**_DUTY.__dict__, "last_at": None})], "total": 31},
    "duties/stopped": {"d": _DUTY},
    "duties/error": {"code": "already_done", "number": 2, "units": [H, H], "count": 5,
                     "unit": H, "next_at": NOW, "scope": H, "time": H, "quiet": H},
}
