"""Helpers for the process tests: a real `gridbot run --no-console` and the
SQLite file it writes, waited on by condition with generous deadlines.

No fixed sleeps: a process test must pass on a loaded 2-core machine, where a
cold start alone can take many seconds. Each wait polls for what it needs and
fails with the process's log once its deadline is over.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

START_S = 90.0  # a cold start (imports, migrations) on a loaded 2-core machine
FRAME_S = 30.0  # one frame from the bot
ROW_S = 30.0  # a row to show up in (or change in) the database file


class Gridbot:
    """One `gridbot run --no-console` in ``workdir``; its output goes to
    ``<name>.log`` there (a pipe nobody reads would fill and stall the process)."""

    def __init__(self, workdir: Path, env: dict[str, str], name: str = "gridbot") -> None:
        self.port = int(env["PORT"])
        self.log = workdir / f"{name}.log"
        with self.log.open("w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "run", "--no-console"], cwd=workdir,
                env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    async def listening(self, limit: float = START_S) -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"gridbot exited early:\n{self.log_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                await asyncio.sleep(0.1)
        raise AssertionError(f"gridbot did not start listening:\n{self.log_text()}")

    def kill9(self) -> None:
        """SIGKILL: no shutdown hook runs, nothing is flushed but what was committed."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        stop_process(self.proc, 30)


def stop_process(proc: subprocess.Popen, timeout: float = 20) -> None:
    """SIGINT and wait (a graceful stop), else kill; a no-op once it has exited."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def db_rows(path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    """One read of the bot's SQLite file (WAL: never blocks the bot's writer)."""
    conn = sqlite3.connect(path, timeout=10)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


async def wait_rows(
    path: Path, sql: str, done: Callable[[list[tuple]], bool], params: tuple = (),
    limit: float = ROW_S,
) -> list[tuple]:
    """Poll ``sql`` until ``done(rows)``; the rows that satisfied it."""
    deadline = time.monotonic() + limit
    while True:
        rows = db_rows(path, sql, params)
        if done(rows):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {limit}s: {sql} {params} -> {rows}")
        await asyncio.sleep(0.05)
