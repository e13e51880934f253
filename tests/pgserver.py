"""A throw-away PostgreSQL server: Debian's `postgresql`, a temporary data directory,
a free port on 127.0.0.1, trust authentication, stopped (and deleted) afterwards.

    python -m tests.pgserver -- CMD ...   # runs CMD with GRIDBOT_TEST_PG_URL set

PostgreSQL refuses to run as root, so as root (CI) the server runs as the
``postgres`` user the Debian package creates.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ENV = "GRIDBOT_TEST_PG_URL"


def _bindir() -> Path:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not versions:
        raise RuntimeError("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    return versions[-1].parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    return ["runuser", "-u", "postgres", "--", *cmd]


@contextlib.contextmanager
def server() -> Iterator[str]:
    """A running server; yields its URL (asyncpg driver, database ``postgres``)."""
    bindir = _bindir()
    root = Path(tempfile.mkdtemp(prefix="gridbot-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sock, "postgres")
    port = _free_port()
    run = {"check": True, "stdout": subprocess.DEVNULL}
    try:
        subprocess.run(_as_server_user([
            str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
            "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]), **run)
        # Tests want speed, not durability: a crash of the throw-away server loses nothing.
        opts = (f"-p {port} -c listen_addresses=127.0.0.1 -k {sock} -c fsync=off"
                " -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
                " -c shared_buffers=256MB")
        subprocess.run(_as_server_user([
            str(bindir / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(root / "log"),
            "-w", "start"]), **run)
        try:
            yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run(_as_server_user([
                str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]),
                check=False, stdout=subprocess.DEVNULL)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print("usage: python -m tests.pgserver -- CMD ...", file=sys.stderr)
        return 2
    # A TERM (make interrupted, a CI timeout) still stops the server and deletes it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with server() as url:
        print(f"== PostgreSQL at {url}", flush=True)
        return subprocess.run(argv, env={**os.environ, ENV: url}).returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
