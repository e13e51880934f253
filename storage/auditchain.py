"""A tamper-evident audit log: every row carries a hash chained to the previous one.

``hash = sha256(canonical(prev_hash, at, actor, action, subject, scope, detail))`` and
``prev_hash`` is the hash of the row before it (by id), ``GENESIS`` for the first.
Editing a row breaks its own hash; deleting, inserting or swapping rows breaks the
next row's link. ``verify`` walks the chain and names the first row that does not
hold; a deleted tail is caught by the last verified head (``AuditCheckpoint``),
which the nightly check records.

This makes quiet edits visible, not impossible: someone who can write the file can
also rewrite the whole chain from the edited row on. Backups keep older heads.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

GENESIS = "0" * 64


def _when(at: datetime | str) -> str:
    """One text for an instant, written or read back (SQLite keeps naive UTC text)."""
    if isinstance(at, str):
        at = datetime.fromisoformat(at)
    if at.tzinfo is not None:
        at = at.astimezone(UTC).replace(tzinfo=None)
    return at.isoformat(sep=" ", timespec="microseconds")


def row_hash(
    prev: str, at: datetime | str, actor: str, action: str, subject_kind: str,
    subject_id: int | None, scope: str, detail: str,
) -> str:
    canonical = json.dumps(
        [prev, _when(at), actor, action, subject_kind, subject_id, scope, detail],
        ensure_ascii=False, separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Broken:
    """Where the chain stops holding: the row (its id and position) and why."""

    row_id: int
    position: int  # 1-based, in id order
    reason: str  # edited | broken_link (a row before it deleted, moved or inserted) | tail_deleted

    def line(self) -> str:
        return f"audit row {self.row_id} (#{self.position}): {self.reason}"


@dataclass(frozen=True)
class Verified:
    rows: int
    head: str  # the last row's hash
    last_id: int
    broken: Broken | None


_COLUMNS = "id, at, actor, action, subject_kind, subject_id, scope, detail, prev_hash, hash"


def verify_connection(conn: Any) -> Verified:
    """Walk the chain in id order over a DBAPI connection (blocking; run it in a
    thread from async code)."""
    expected, position, last_id = GENESIS, 0, 0
    hashes: set[str] = set()
    cur = conn.cursor()
    cur.execute(f"SELECT {_COLUMNS} FROM auditlog ORDER BY id")
    for row in cur.fetchall():
        rid, at, actor, action, s_kind, s_id, scope, detail, prev, digest = row
        position += 1
        if prev != expected:  # the row before it was deleted, or rows were moved or inserted
            return Verified(position, expected, last_id, Broken(rid, position, "broken_link"))
        if row_hash(prev, at, actor, action, s_kind or "", s_id, scope or "", detail) != digest:
            return Verified(position, expected, last_id, Broken(rid, position, "edited"))
        hashes.add(digest)
        expected, last_id = digest, rid
    cur.execute("SELECT last_id, head FROM auditcheckpoint ORDER BY id DESC LIMIT 1")
    checkpoint = cur.fetchone()
    if checkpoint is not None:
        cp_id, cp_head = checkpoint
        if cp_head not in hashes:  # the head once verified is gone: the tail was cut
            return Verified(position, expected, last_id, Broken(cp_id, position, "tail_deleted"))
    return Verified(position, expected, last_id, None)


def _connect(database: Path | str) -> Any:
    """A DBAPI connection: ``database`` is an SQLite file or an app database URL."""
    from storage.db import db_path, libpq_url

    if isinstance(database, str) and db_path(database) is None:
        import psycopg

        return psycopg.connect(libpq_url(database))
    path = database if isinstance(database, Path) else db_path(database)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 10000")
    return conn


def verify(database: Path | str) -> Verified:
    conn = _connect(database)
    try:
        return verify_connection(conn)
    finally:
        conn.close()


def record_checkpoint(database: Path | str, verified: Verified, at: datetime) -> None:
    """Remember a clean head, so that a later deletion of the tail is seen."""
    if verified.broken is not None or not verified.rows:
        return
    conn = _connect(database)
    sqlite = isinstance(conn, sqlite3.Connection)
    mark = "?" if sqlite else "%s"
    # SQLite keeps the instant as text, PostgreSQL as a timestamp: the same naive UTC.
    when = _when(at) if sqlite else datetime.fromisoformat(_when(at))
    try:
        conn.cursor().execute(
            f"INSERT INTO auditcheckpoint (at, last_id, head, rows) VALUES ({mark}, {mark},"
            f" {mark}, {mark})", (when, verified.last_id, verified.head, verified.rows),
        )
        conn.commit()
    finally:
        conn.close()
