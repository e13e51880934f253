"""Masking of personal data (DESIGN.md §4): names 张*, phones 138****1234, IDs 110***1234."""

from __future__ import annotations

import re

# Digits and separators as people type them on a phone: full-width forms are
# read as their ASCII twins (only for finding; the text keeps its own characters).
_FOLD = str.maketrans(
    "０１２３４５６７８９＋－—　", "0123456789+--" + " "
)
_SEP = r"[ \-]?"
# 138 1234 5678, 138-1234-5678, +86 13812345678, (+86)138…, 8613812345678
_PHONE = re.compile(
    rf"(?<![0-9])(?:\(?\+?86\)?{_SEP})?(1[3-9][0-9]){_SEP}([0-9]{{4}}){_SEP}([0-9]{{4}})(?![0-9])"
)
# 18-digit (last may be X) and the old 15-digit resident ID numbers
_ID = re.compile(r"(?<![0-9Xx])([0-9]{3})(?:[0-9]{14}[0-9Xx]|[0-9]{12})(?=[^0-9Xx]|$)")
_ID_TAIL = re.compile(r"([0-9Xx]{4})$")
# rooms: 302室, 1202房, 302号房, 3-302, 3号楼302
_ROOM = re.compile(
    r"(?<![0-9])(?:[0-9]{1,3}(?:号楼|栋|幢|-)[0-9]{0,2}(?:单元)?-?)?[0-9]{3,4}(?:室|房间|号房|房)"
    r"|(?<![0-9])[0-9]{1,3}-[0-9]{3,4}(?![0-9])"
)

def mask_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        return ""
    return name[0] + "*" * max(1, len(name) - 1)


def mask_phone(phone: str) -> str:
    digits = re.sub(r"\D", "", phone or "")
    if len(digits) < 7:
        return "*" * len(digits)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_id(id_number: str) -> str:
    s = (id_number or "").strip()
    if len(s) < 8:
        return "*" * len(s)
    return s[:3] + "*" * (len(s) - 7) + s[-4:]


def scrub(text: str) -> str:
    """Mask phone numbers (in any written form), ID numbers and rooms in free text
    (logs, group-facing notes): 138****5678, 110***********1234, ***室.

    Matching runs on a folded copy of the same length, so full-width digits are
    found too, and the masks are cut into the original text at the same places.
    """
    folded = text.translate(_FOLD)
    spans: list[tuple[int, int, str]] = []

    def taken(a: int, b: int) -> bool:
        return any(a < e and s < b for s, e, _ in spans)

    for m in _ID.finditer(folded):
        whole = m.group(0)
        spans.append((m.start(), m.end(), whole[:3] + "*" * (len(whole) - 7) + whole[-4:]))
    for m in _PHONE.finditer(folded):
        if not taken(m.start(), m.end()):
            spans.append((m.start(), m.end(), f"{m.group(1)}****{m.group(3)}"))
    for m in _ROOM.finditer(folded):
        if not taken(m.start(), m.end()):
            unit = "室" if not m.group(0)[-1].isdigit() else ""
            spans.append((m.start(), m.end(), f"***{unit}"))
    out, last = [], 0
    for a, b, mask in sorted(spans):
        out.append(text[last:a])
        out.append(mask)
        last = b
    out.append(text[last:])
    return "".join(out)
