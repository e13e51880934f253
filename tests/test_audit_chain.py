"""The tamper-evident audit log (issue 14): every row chained to the one before by
its hash. `gridbot audit verify` (a real subprocess on the test's database) names the
row where an edit, a deletion, a swap or a cut tail shows, and an intact log
verifies clean; the nightly check tells the superusers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.runtime import Runtime
from tests import pgdb
from tests.onebot import OneBotPeer

ADMIN = 10001
WORK = 890001


def _verify(rt: Runtime) -> subprocess.CompletedProcess:
    env = os.environ | {"GRIDBOT_DB_URL": rt.settings.db_url}
    return subprocess.run([sys.executable, "-m", "bot.cli", "audit", "verify"], env=env,
                          capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parent.parent)


async def _some_history(peer: OneBotPeer) -> None:
    """Audited actions through the real protocol: a binding, a round, its close."""
    await peer.ask(ADMIN, "/绑定群 幸福社区 工作群", group_id=WORK)
    await peer.ask(ADMIN, "/排查 发起 返区人员排查 截止 2天", group_id=WORK)
    await peer.ask(ADMIN, "/排查 发起 复查 截止 1天 范围 幸福社区/1栋", group_id=WORK)
    await peer.ask(ADMIN, "/任命 qq:40001 志愿者 幸福社区/1栋", group_id=None)
    await peer.ask(ADMIN, "/结束 #2")
    await peer.ask(ADMIN, "/确认")


def _rows(rt: Runtime) -> list[tuple]:
    return pgdb.execute(rt.settings.db_url, "SELECT id, action, detail FROM auditlog ORDER BY id")


def _sql(rt: Runtime, statement: str, *params) -> None:
    pgdb.execute(rt.settings.db_url, statement, *params)


async def test_an_intact_log_verifies_clean(peer: OneBotPeer, street: Runtime) -> None:
    await _some_history(peer)
    rows = _rows(street)
    assert len(rows) >= 5
    done = _verify(street)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"audit log intact: {len(rows)} rows")


@pytest.mark.parametrize("tamper", ["edit", "delete", "swap", "insert"])
async def test_tampering_is_found_and_the_row_named(
    peer: OneBotPeer, street: Runtime, tamper: str
) -> None:
    await _some_history(peer)
    rows = _rows(street)
    victim = rows[2][0]  # the third row
    if tamper == "edit":
        _sql(street, "UPDATE auditlog SET detail = detail || ' x' WHERE id = ?", victim)
        expected = f"audit row {victim} (#3): edited"
    elif tamper == "delete":
        _sql(street, "DELETE FROM auditlog WHERE id = ?", victim)
        expected = f"audit row {rows[3][0]} (#3): broken_link"
    elif tamper == "swap":
        a, b = victim, rows[3][0]
        cols = "at, actor, action, detail, subject_kind, subject_id, scope, prev_hash, hash"
        _sql(street, f"UPDATE auditlog SET id = -1 WHERE id = {a}")
        _sql(street, f"UPDATE auditlog SET id = {a} WHERE id = {b}")
        _sql(street, f"UPDATE auditlog SET id = {b} WHERE id = -1")
        assert cols  # whole rows moved: each keeps its own (valid) hash
        expected = f"audit row {a} (#3): broken_link"
    else:  # a row slipped in between, with a hash of its own
        _sql(street, "UPDATE auditlog SET id = id + 1000 WHERE id > ?", victim)
        _sql(street, "INSERT INTO auditlog (id, at, actor, action, detail, subject_kind, scope, "
             "prev_hash, hash) SELECT id + 1, at, actor, 'grant', 'qq:9 管理员', '', '', hash, "
             "hash FROM auditlog WHERE id = ?", victim)
        expected = f"audit row {victim + 1} (#4): edited"
    done = _verify(street)
    assert done.returncode == 1
    assert done.stderr.startswith(f"audit log BROKEN at {expected}"), done.stderr


async def test_a_cut_tail_is_found_by_the_last_verified_head(
    peer: OneBotPeer, street: Runtime
) -> None:
    from plugins.retention import check_audit

    await _some_history(peer)
    verified = await check_audit(street)  # the nightly check records a clean head
    assert verified is not None and verified.broken is None
    last = _rows(street)[-1][0]
    _sql(street, "DELETE FROM auditlog WHERE id = ?", last)
    done = _verify(street)
    assert done.returncode == 1 and "tail_deleted" in done.stderr, done.stderr


async def test_the_nightly_check_tells_the_superusers(
    peer: OneBotPeer, street: Runtime, outbox
) -> None:
    from plugins.retention import check_audit

    await _some_history(peer)
    victim = _rows(street)[1][0]
    _sql(street, "UPDATE auditlog SET actor = 'qq:1' WHERE id = ?", victim)
    result = await check_audit(street)
    assert result is not None and result.broken is not None
    told = await peer.expect_send()
    assert told.target == "private:99999"  # the test settings' superuser
    assert told.text.startswith(f"【审计日志异常】审计日志的校验链在第 2 条（编号 {victim}）处断开")


def test_audit_rows_hold_no_names_or_titles() -> None:
    """Details are ids and codes: no call site writes a person's name or a title."""
    root = Path(__file__).resolve().parent.parent
    offenders = []
    for path in [*(root / "plugins").rglob("*.py"), *(root / "storage").rglob("*.py")]:
        text = path.read_text(encoding="utf-8")
        for chunk in text.split("await audit(")[1:]:
            depth, end = 1, 0
            while depth and end < len(chunk):  # the call's arguments, to its ")"
                depth += {"(": 1, ")": -1}.get(chunk[end], 0)
                end += 1
            call = chunk[:end]
            for needle in ("person.name", "title", ".note", ".text", "args.reason"):
                if needle in call:
                    offenders.append(f"{path.relative_to(root)}: {call.strip()[:80]}")
    assert offenders == []
