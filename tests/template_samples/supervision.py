"""Structured sample contexts for the supervision (督查) templates."""

from types import SimpleNamespace as NS

from tests.template_samples import HOSTILE as H
from tests.template_samples import NOW

_TALLY = NS(label=H, total=10, on_time=7, late=2, missed=1, rate=70, excused=1)
_PERIOD = NS(label=H, start=NOW)
_SUMMARY = NS(
    period=_PERIOD, all=_TALLY, checkins=_TALLY, duties=_TALLY, incidents=_TALLY,
    assists=_TALLY, alerts=_TALLY, policies=_TALLY, incident_minutes=15,
    communities=[_TALLY, _TALLY],
    grids=[_TALLY, _TALLY], people=[NS(name=H, role=H, late=2, missed=1)] * 3, scope=H,
    signals=[NS(rule=r, count=2, what="个单元次") for r in
             ("burst", "same_figures", "instant", "same_temperature")],
)

SAMPLES = {
    "supervision/report": {"s": _SUMMARY, "weekly": False, "late": False, "private": True,
                           "sent": False, "url": H, "hours": 1},
    "supervision/link": {"period": _PERIOD, "url": H, "hours": 1},
    "supervision/describe": {"period": _PERIOD},
}
