"""Text that goes into a spreadsheet cell we write (exports).

Every value a user typed (titles, names, notes) can reach a cell. Control
characters are dropped (XLSX cannot hold them, and openpyxl refuses the whole
workbook), and text that a spreadsheet program would read as a formula
(``=``, ``+``, ``-``, ``@``, also after leading blanks, tabs or returns) is
prefixed with an apostrophe so it stays text.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_FORMULA_START = ("=", "+", "-", "@", "＝", "＋", "－", "＠")


def safe_cell(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    text = _CONTROL.sub("", value)
    if text.lstrip(" \t\r\n\u3000").startswith(_FORMULA_START) or text[:1] in ("\t", "\r"):
        return "'" + text
    return text


def safe_row(values: Iterable[Any]) -> list[Any]:
    return [safe_cell(v) for v in values]


def save_private(wb: Any, path: Path) -> Path:
    """Save a workbook atomically, mode 0600, in a 0700 directory (blocking: run it in
    a thread). Exports name people: nobody else on the server may read them."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            wb.save(fh)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path
