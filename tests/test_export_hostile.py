"""Exports survive hostile text: no control character breaks the workbook, and
nothing a user typed is read as a formula by a spreadsheet program."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st
from openpyxl import load_workbook

from storage.sheets import _FORMULA_START, safe_cell

HOSTILE = [
    "=HYPERLINK(\"http://evil\",\"点我\")", "+1+1", "-2+3", "@SUM(A1)", "  =1+1", "\t=1",
    "\r=cmd|' /C calc'!A0", "＝1+1", "正常\x00备注\x07", "\x1b[31m红\x0b",
]


@given(st.text())
def test_safe_cell_never_leaves_a_formula_or_a_control_character(text: str) -> None:
    out = safe_cell(text)
    assert not any((ord(c) < 32 and c not in "\t\n\r") or ord(c) == 127 for c in out)
    if out.lstrip(" \t\r\n\u3000").startswith(_FORMULA_START):
        assert out.startswith("'")


def test_a_workbook_of_hostile_text_opens_and_holds_only_text() -> None:
    from plugins.checkin.export import build_workbook
    from plugins.checkin.service import ReportRow

    rows = [
        ReportRow(community=h, grid=h, building=1, unit=1, registered=10, households=9,
                  returned=0, isolated=0, abnormal=0, note=h, reporter_name=h,
                  reporter="qq:1", reported_at=datetime(2026, 11, 30, 2, tzinfo=UTC),
                  submissions=1)
        for h in HOSTILE
    ]
    wb = build_workbook(1, HOSTILE[0], rows, [])
    buf = io.BytesIO()
    wb.save(buf)  # openpyxl refuses control characters: this would raise
    sheet = load_workbook(io.BytesIO(buf.getvalue())).active
    texts = [c.value for row in sheet.iter_rows(min_row=2) for c in row
             if isinstance(c.value, str)]
    assert texts
    for value in texts:
        assert value.lstrip(" \t\r\n\u3000")[:1] not in _FORMULA_START, value
        assert "\x00" not in value and "\x07" not in value
    data_types = {c.data_type for row in sheet.iter_rows(min_row=2) for c in row}
    assert "f" not in data_types  # no cell is a formula
