"""Check-in templates: every one renders hostile values inert (with the samples of
tests/template_samples/checkin.py, which tests/test_templates.py also uses), every
error code has its sentence, and the 异常 alert never carries the note.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace as NS

import pytest

from messages.render import Renderer
from tests.template_samples import HOSTILE as H
from tests.template_samples.checkin import _SUBMITTED, SAMPLES

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def checkin_templates() -> list[str]:
    return [
        n for n in Renderer().names()
        if n.startswith("checkin/") or n.startswith("usage/checkin_")
    ]


def test_every_checkin_template_has_a_sample_or_is_flat() -> None:
    structured = {n for n in checkin_templates() if n.startswith("checkin/")}
    assert structured == set(SAMPLES)


@pytest.mark.parametrize("name", checkin_templates())
def test_checkin_template_renders_hostile_values_inert(name: str) -> None:
    renderer = Renderer()
    ctx = SAMPLES.get(name, {"code": H})
    out = renderer.render(name, **ctx)
    assert out.strip()
    assert "<class" not in out and "__mro__" not in out.replace(H, "")
    if "[CQ:" in out:
        assert H in out


@pytest.mark.parametrize(
    "code",
    ["deadline_past", "empty_scope", "need_unit", "round_not_found", "round_closed",
     "unknown_unit", "unit_not_in_round", "no_open_round", "ambiguous_round",
     "ambiguous_unit", "not_leader", "over_count", "daily_not_found", "?"],
)
def test_every_error_code_has_a_sentence(code: str) -> None:
    ctx = {"code": code, "unit": "3栋2单元", "rounds": [1, 2], "round_id": 1, "registered": 12,
           "reported": 24, "scope": "幸福社区", "deadline": NOW, "number": 1}
    out = Renderer().render("checkin/error", **ctx)
    assert out.splitlines()[0] and "{{" not in out
    # One sentence: the full usage is for the bare command and /帮助 打卡 only.
    assert "/打卡 [#N] [单元]" not in out
    assert len(out.strip().splitlines()) == 1


def test_alert_carries_no_note() -> None:
    r = NS(**{**vars(_SUBMITTED), "note": "201室张三发热", "reporter_name": "陈伟",
              "unit_label": "2栋2单元", "community": "幸福社区", "round_title": "排查"})
    out = Renderer().render("checkin/abnormal_alert", r=r)
    assert "张三" not in out and "201" not in out
    assert "幸福社区/2栋2单元：已排查24户，返区0，隔离1，异常2" in out
