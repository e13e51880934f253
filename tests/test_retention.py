"""Retention: personal details of old closed records go; recent and open ones stay."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlmodel import select

from bot.runtime import Runtime
from storage.models import AuditLog, Unit
from storage.models_events import HealthCheck, Incident, Quarantine
from storage.models_outbox import OutboxItem
from storage.retention import exports_dir, purge_exports, purge_records


async def seed(rt: Runtime) -> dict[str, int]:
    now = rt.utcnow()
    today = rt.now().date()
    old = now - timedelta(days=200)
    async with rt.db.write() as s:
        unit = (await s.exec(select(Unit))).first()
        old_q = Quarantine(unit_id=unit.id, room="301", name="张三", start_date=date(2026, 4, 1),
                           days=14, end_date=date(2026, 4, 15), state="released",
                           created_by="qq:10002", released_at=old)
        new_q = Quarantine(unit_id=unit.id, room="502", name="李四",
                           start_date=today, days=14,
                           end_date=today + timedelta(days=14), created_by="qq:10002")
        s.add(old_q)
        s.add(new_q)
        await s.flush()
        s.add(HealthCheck(quarantine_id=old_q.id, temp_centi=3750, symptoms="咳嗽，张三自述",
                          abnormal=True, reported_by="qq:30011", reported_at=old))
        s.add(HealthCheck(quarantine_id=new_q.id, temp_centi=3650, symptoms="乏力",
                          reported_by="qq:30011"))
        s.add(Incident(kind="私自外出", unit_id=unit.id, room="301", note="张三外出",
                       reported_by="qq:30011", reported_at=old, state="closed", closed_at=old,
                       result="已劝返"))
        s.add(Incident(kind="设备离线", unit_id=unit.id, room="502", note="门磁离线",
                       reported_by="qq:30011"))
        for state, created in (("sent", old), ("pending", old), ("sent", now)):
            s.add(OutboxItem(queue="qq:1", platform="qq", target_kind="group", target="1",
                             text="请张三所在单元…", state=state, created_at=created))
        return {"old": old_q.id, "new": new_q.id}


async def test_purge_anonymises_old_closed_records_only(street: Runtime) -> None:
    ids = await seed(street)
    async with street.db.write() as s:
        report = await purge_records(s, now=street.utcnow(), personal_days=180)
    assert report.counts["quarantine entries"] == 1
    assert report.counts["health checks"] == 1
    assert report.counts["incidents"] == 1
    assert report.counts["outbox rows"] == 1
    async with street.db.read() as s:
        old = await s.get(Quarantine, ids["old"])
        new = await s.get(Quarantine, ids["new"])
        assert (old.name, old.room) == ("", "")
        assert (new.name, new.room) == ("李四", "502")
        checks = {h.quarantine_id: h for h in (await s.exec(select(HealthCheck))).all()}
        assert checks[ids["old"]].symptoms == "" and checks[ids["old"]].temp_centi == 3750
        assert checks[ids["new"]].symptoms == "乏力"
        incidents = (await s.exec(select(Incident).order_by(Incident.id))).all()
        assert [(i.room, i.note, i.result) for i in incidents] == [
            ("", "", ""), ("502", "门磁离线", "")
        ]
        states = sorted(o.state for o in (await s.exec(select(OutboxItem))).all())
        assert states == ["pending", "sent"]  # an unsettled row is never dropped
    # A second run finds nothing more to do.
    async with street.db.write() as s:
        again = await purge_records(s, now=street.utcnow(), personal_days=180)
    assert set(again.counts.values()) == {0}


def test_old_exports_are_deleted(tmp_path: Path) -> None:
    directory = exports_dir(tmp_path)
    directory.mkdir(parents=True)
    old, new = directory / "round1_old.xlsx", directory / "round2_new.xlsx"
    old.write_bytes(b"x")
    new.write_bytes(b"x")
    # Ages are measured against the clock handed in, from mtimes the test sets:
    # file times stay real when the clock is moved.
    now = datetime(2026, 11, 30, 10, 0, tzinfo=UTC).timestamp()
    for path, days in ((old, 8), (new, 6)):
        os.utime(path, (now - days * 86400, now - days * 86400))
    assert purge_exports(directory, now=now, export_days=7) == 1
    assert not old.exists() and new.exists()


async def test_nightly_purge_is_scheduled_and_audited(street: Runtime) -> None:
    from plugins.retention import KIND, NIGHTLY, run_purge

    await seed(street)
    line = await run_purge(street)
    assert "quarantine entries 1" in line and "exports 0" in line
    async with street.db.read() as s:
        rows = (await s.exec(select(AuditLog).where(AuditLog.action == "purge"))).all()
    assert len(rows) == 1 and rows[0].actor == "system"
    due = NIGHTLY.next_after(street.utcnow())
    assert due.astimezone().tzinfo is not None and KIND == "retention.purge"
    from ground.timeutil import local

    assert (local(due).hour, local(due).minute) == (3, 30)


def test_cli_purge(tmp_path: Path) -> None:
    env = os.environ | {"GRIDBOT_DB_URL": f"sqlite+aiosqlite:///{tmp_path / 'g.db'}"}
    done = subprocess.run([sys.executable, "-m", "bot.cli", "purge"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("purged: ") and "quarantine entries 0" in done.stdout
