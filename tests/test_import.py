"""Roster import: both kinds, CSV and XLSX, idempotent, all-or-nothing with row numbers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlmodel import func, select

from bot.runtime import Runtime
from storage.importer import ImportError_, import_rows, read_table, validate
from storage.models import Account, Building, Community, Grid, Person, RoleGrant, TeamMember, Unit
from tests.conftest import DATA, dump_db

ROOT = Path(__file__).resolve().parents[1]


async def counts(rt: Runtime) -> dict[str, int]:
    out = {}
    async with rt.db.read() as s:
        for model in (Community, Grid, Building, Unit, Person, Account, RoleGrant, TeamMember):
            out[model.__name__] = (await s.exec(select(func.count()).select_from(model))).one()
    return out


async def run_import(rt: Runtime, path: Path):
    kind, rows = validate(read_table(path))
    async with rt.db.write() as s:
        return await import_rows(s, kind, rows)


def write_xlsx(src: Path, dst: Path) -> Path:
    wb = Workbook()
    ws = wb.active
    for row in read_table(src):
        ws.append([int(c) if c.isdigit() else c for c in row])
    wb.save(dst)
    return dst


EXPECTED = {
    "Community": 1, "Grid": 2, "Building": 4, "Unit": 7,
    "Person": 12, "Account": 11, "RoleGrant": 13, "TeamMember": 5,
}


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_import_both_kinds_idempotent(runtime: Runtime, tmp_path: Path, fmt: str) -> None:
    files = [DATA / "units.csv", DATA / "staff.csv"]
    if fmt == "xlsx":
        files = [write_xlsx(f, tmp_path / f"{f.stem}.xlsx") for f in files]
    for f in files:
        await run_import(runtime, f)
    first = await counts(runtime)
    assert first == EXPECTED
    snapshot = [line for line in dump_db(runtime) if "auditlog" not in line]
    for f in files:
        await run_import(runtime, f)
    assert await counts(runtime) == first
    assert [line for line in dump_db(runtime) if "auditlog" not in line] == snapshot


async def test_reimport_updates_in_place(runtime: Runtime, tmp_path: Path) -> None:
    await run_import(runtime, DATA / "units.csv")
    changed = (DATA / "units.csv").read_text(encoding="utf-8").replace(
        "2栋,2单元,24,陈伟,qq:20002,周敏,", "2栋,2单元,26,陈伟,qq:20002,周新敏,"
    )
    path = tmp_path / "units2.csv"
    path.write_text(changed, encoding="utf-8")
    await run_import(runtime, path)
    async with runtime.db.read() as s:
        b = (await s.exec(select(Building).where(Building.number == 2))).one()
        u = (await s.exec(select(Unit).where(Unit.building_id == b.id, Unit.number == 2))).one()
        assert u.households == 26
        grants = (
            await s.exec(
                select(RoleGrant).where(RoleGrant.scope_kind == "unit", RoleGrant.scope_id == u.id)
            )
        ).all()
        assert len(grants) == 1
        person = await s.get(Person, grants[0].person_id)
        assert person.name == "周新敏"
    assert (await counts(runtime))["Unit"] == 7


async def test_bom_fullwidth_and_chinese_numerals(runtime: Runtime, tmp_path: Path) -> None:
    text = (
        "\ufeff社区,网格,楼栋,单元,户数,楼长,楼长账号,单元长,单元长账号\n"
        "和平社区,第一网格,３栋,二单元,１８户,欧阳娜娜,qq:２０００１,,\n"
        "和平社区,第一网格,十二号楼,1,20,,,,\n"
    )
    path = tmp_path / "bom.csv"
    path.write_bytes(text.encode("utf-8"))
    await run_import(runtime, path)
    async with runtime.db.read() as s:
        numbers = sorted(
            (b.number, u.number, u.households)
            for b, u in (await s.exec(select(Building, Unit).join(Unit))).all()
        )
        assert numbers == [(3, 2, 18), (12, 1, 20)]
        acc = await s.get(Account, "qq:20001")
        assert acc is not None
        assert (await s.get(Person, acc.person_id)).name == "欧阳娜娜"


async def test_bad_rows_reject_whole_file(runtime: Runtime, tmp_path: Path) -> None:
    await run_import(runtime, DATA / "staff.csv")
    before = dump_db(runtime)
    text = (
        "社区,网格,楼栋,单元,户数,楼长,楼长账号,单元长,单元长账号\n"
        "幸福社区,第一网格,1栋,1单元,18,,,,\n"
        "幸福社区,第一网格,一栋,1单元,很多,,,,\n"
        "幸福社区,第一网格,2栋,1单元,18,,,,\n"
        "幸福社区,,2栋,2单元,18,王,qq:abc,,\n"
        "幸福社区,第一网格,1栋,1单元,18,,,,\n"
    )
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ImportError_) as exc:
        validate(read_table(path))
    rows = [r for r, _ in exc.value.errors]
    assert rows == [3, 5, 6]
    messages = dict(exc.value.errors)
    assert "户数" in messages[3]
    assert "网格为空" in messages[5] and "qq:abc" in messages[5]
    assert "第2行重复" in messages[6]
    assert dump_db(runtime) == before


def test_unknown_header_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("名字,电话\n张三,138\n", encoding="utf-8")
    with pytest.raises(ImportError_) as exc:
        validate(read_table(path))
    assert exc.value.errors[0][0] == 1


def test_cli_import_reports_rows_and_rejects_bad_file(tmp_path: Path) -> None:
    env = os.environ | {"GRIDBOT_DB_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"}
    # A long roster shows progress.
    lines = ["社区,网格,楼栋,单元,户数,楼长,楼长账号,单元长,单元长账号"]
    lines += [f"大社区,第{b % 5 + 1}网格,{b}栋,{u}单元,20,,,," for b in range(1, 151)
              for u in (1, 2)]
    big = tmp_path / "big.csv"
    big.write_text("\n".join(lines), encoding="utf-8")
    cmd = [sys.executable, "-m", "bot.cli", "import"]
    ok = subprocess.run([*cmd, str(big)], env=env, cwd=tmp_path, capture_output=True,
                        text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "300 rows imported" in ok.stdout
    assert "300/300 rows" in ok.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text(lines[0] + "\n大社区,第一网格,1栋,1单元,-3,,,,\n", encoding="utf-8")
    rejected = subprocess.run([*cmd, str(bad)], env=env, cwd=tmp_path, capture_output=True,
                              text=True, timeout=120)
    assert rejected.returncode == 1
    assert "row 2" in rejected.stderr and "nothing imported" in rejected.stderr
