"""Structured sample contexts for check-in templates (hostile strings everywhere)."""

from types import SimpleNamespace as NS

from tests.template_samples import HOSTILE as H
from tests.template_samples import NOW

_RND = NS(id=3, title=H, scope_label=H, deadline=NOW, state="open", opened_at=NOW)
_T = NS(label=H, units=7, reported=4, registered=138, covered=68, returned=1, isolated=2,
        abnormal=1, unit_share=57, household_share=49, screened=60, exempt=6, refused=2)
_LEADERS = [NS(name=H, role=H, accounts=(H,)), NS(name=H, role=H, accounts=())]
_UNIT = NS(label=H, community=H, leaders=_LEADERS)
_COUNTS = NS(households=24, returned=0, isolated=1, abnormal=2, vacant=1, away=1, refused=2,
             reached=28)
_SUBMITTED = NS(
    unit_label=H, counts=_COUNTS, note=H, previous=_COUNTS, round_id=3, round_title=H,
    late=True, alert=True, alert_groups=[1], community=H, reporter_name=H, unchanged=False,
    running=NS(building=H, building_reported=2, building_units=2, community=H,
               community_reported=4, community_units=6),
    refusal_groups=[1],
)

SAMPLES = {
    "checkin/abnormal_alert": {"r": _SUBMITTED},
    "checkin/chase_done": {"rnd": _RND, "units": 3, "groups": 1, "mentioned": 4,
                           "orphans": [_UNIT]},
    "checkin/closed": {"rnd": _RND, "t": _T},
    "checkin/daily_created": {"d": NS(id=1, title=H, scope_label=H, open_minute=600,
                                      close_minute=1080), "first": NOW},
    "checkin/daily_report": {"rnd": _RND, "reason": "deadline", "now": NOW, "t": _T,
                             "communities": [_T, _T], "grids": [_T], "missing": [_UNIT],
                             "missing_total": 70, "several_communities": True},
    "checkin/daily_stopped": {"d": NS(id=1, title=H)},
    "checkin/error": {"code": "ambiguous_round", "unit": H, "rounds": [1, 2]},
    "checkin/export_ok": {"rnd": _RND, "url": H, "hours": 1, "reports": 4, "missing": 3},
    "checkin/export_sent": {"rnd": _RND},
    "checkin/export_private_failed": {"rnd": _RND},
    "checkin/missing": {"rnd": _RND, "units": [_UNIT], "total": 3, "part": 1, "parts": 2},
    "checkin/opened": {"o": NS(round=_RND, units=7, households=138, buildings=[H] * 31),
                       "automatic": False},
    "checkin/progress": {"rnd": _RND, "t": _T, "slow": [_T], "minutes_left": 1500,
                         "spots": NS(asked=3, confirmed=1, mismatched=[H] * 6, waiting=1),
                         "drift": 3,
                         "overdue": False},
    "checkin/remind": {"rnd": _RND, "units": [_UNIT], "total": 3, "part": 1, "parts": 1,
                       "automatic": True, "minutes_left": 95},
    "checkin/report_ok": {"r": _SUBMITTED, "private": True},
    "checkin/note_private": {"r": _SUBMITTED, "reporter": H, "note": H},
}
SAMPLES |= {"checkin/open_list": {"rows": [(_RND, _T), (_RND, _T)]}}
SAMPLES |= {"checkin/withdrawn": {"w": NS(round_id=3, round_title=H, unit_label=H,
                                         counts=_COUNTS, restored=_COUNTS)}}
SAMPLES |= {"checkin/mine": {"rounds": [NS(round_id=3, title=H, deadline=NOW,
                                           reports=[(H, _COUNTS)], missing=[H, H])]}}
SAMPLES |= {"checkin/report_error": {"e": NS(code="unknown_text", part=H, guess=H)}}
SAMPLES |= {
    "checkin/ask_open": {"twin": _RND, "now": NOW},
    "checkin/ask_close": {"rnd": _RND, "missing": 3},
    "checkin/ask_open_line": {"p": {"title": H}},
    "checkin/ask_close_line": {"p": {"round_id": 3, "title": H, "missing": 2}},
}
SAMPLES |= {"checkin/refusal_alert": {"r": _SUBMITTED}}
SAMPLES |= {"checkin/relay_list": {"d": NS(new=27, amended=1, same=2, failed=[
    (NS(number=5), "parse", {"e": NS(code="unknown_text", part=H, guess=H)}),
    (NS(number=6), "parse", {"e": NS(code="bad_unit", part=H, guess=None)}),
    (NS(number=7), "twice", {"first": 2}),
    (NS(number=9), "not_leader", {"code": "not_leader", "unit": H}),
    (NS(number=10), "over_count", {"code": "over_count", "unit": H, "registered": 12}),
    (NS(number=11), "unit_not_in_round", {"code": "unit_not_in_round", "unit": H,
                                          "round_id": 2}),
])}}
SAMPLES |= {"checkin/rescreened": {"d": NS(round=_RND, labels=[H] * 12, unit_ids=[1],
                                           had_reports=1, adopted=2), "groups": 2,
                                   "reason": H}}
_ASKED = NS(check=NS(id=12, checker=H), label=H, counts=_COUNTS, checker_name=H,
            signals=("burst",))
_ANSWERED = NS(check=NS(id=12, verdict="不符"), label=H, round=_RND)
SAMPLES |= {
    "checkin/spot_asked": {"a": _ASKED, "rnd": _RND},
    "checkin/spot_drawn": {"rnd": _RND, "asked": [_ASKED] * 7, "nobody": [H] * 7},
    "checkin/spot_answered": {"d": _ANSWERED},
    "checkin/spot_mismatch": {"d": _ANSWERED, "note": H},
}
SAMPLES |= {"checkin/spot_remind": {"d": _ANSWERED}, "checkin/spot_escalated": {"d": _ANSWERED}}
