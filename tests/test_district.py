"""Three `gridbot run` processes on one PostgreSQL database (issue 16), each serving
the bot account that connects to it, over the real OneBot v11 protocol.

A broadcast to 300 resident groups (100 per account) is shared between them: each
process sends for the accounts connected to it, and an account connected to two
processes is sent for by one of them only (the `queue:` lease). One process is killed
with SIGKILL mid-way, holding a send its implementation never answered; that
account's implementation reconnects to another process, which takes the account's
queue over. Every group gets the message once; what the dead process had in flight
becomes `unknown` and is never sent again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from tests import pgdb, pgserver
from tests.conftest import DATA
from tests.helpers import TEST_EPOCH
from tests.onebot import parse_sent
from tests.procs import FRAME_S, Gridbot
from tests.test_run_process import free_port

pytestmark = pytest.mark.postgresql

N = 300
FIRST = 900001
ACCOUNTS = (4201, 4202, 4203)
STAFF = 12345
HOLD_AFTER = 40  # the killed process's account answers this many sends, then holds one


@pytest.fixture
def district_url(tmp_path: Path):
    """A database of its own on the suite's PostgreSQL server, or on a throw-away one."""
    name = f"gridbot_district_{os.getpid()}"
    with contextlib.ExitStack() as stack:
        server = pgdb.SERVER or stack.enter_context(pgserver.server())
        url = pgdb.fresh(server, name)
        yield url
        pgdb._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', server)


def district_env(url: str, interval: float, **extra: str) -> dict[str, str]:
    """What every process of a test shares: the database, fast pacing, short leases."""
    return os.environ | {
        "HOST": "127.0.0.1", "GRIDBOT_DB_URL": url, "SUPERUSERS": f'["qq:{STAFF}"]',
        "GRIDBOT_DEMO": "false", "GRIDBOT_QUIET_HOURS": "",
        "GRIDBOT_PACING": json.dumps({"qq": {"interval": interval, "jitter": 0.0,
                                             "per_minute": 1_000_000}}),
        "GRIDBOT_SCHEDULER_LEASE_TTL": "3", "GRIDBOT_SCHEDULER_LEASE_RENEW": "0.5",
    } | extra


def prepare(workdir: Path, env: dict[str, str], url: str) -> None:
    for name in ("units.csv", "staff.csv"):
        done = subprocess.run([sys.executable, "-m", "bot.cli", "import", str(DATA / name)],
                              env=env, cwd=workdir, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    cid = pgdb.execute(url, "SELECT id FROM community")[0][0]
    values = ", ".join(
        f"('qq', '{FIRST + i}', '{ACCOUNTS[i % 3]}', 'resident', 'community', {cid}, 'test',"
        " '2026-11-29 00:00:00')" for i in range(N))
    pgdb.execute(url, "INSERT INTO chatgroup (platform, group_id, bot_id, kind, scope_kind,"
                 f" scope_id, bound_by, created_at) VALUES {values}")


def message(bot: int, user_id: int, text: str) -> str:
    return json.dumps({
        "time": int(time.time()), "self_id": bot, "post_type": "message",
        "message_type": "private", "sub_type": "friend", "message_id": 1, "user_id": user_id,
        "message": [{"type": "text", "data": {"text": text}}], "raw_message": text, "font": 0,
        "sender": {"user_id": user_id, "nickname": "工作人员"},
    })


class Account:
    """One bot account's OneBot implementation: answers every send, keeps what it got.
    With ``hold_after`` it leaves the next group send unanswered (``held``)."""

    def __init__(self, bot: int) -> None:
        self.bot = bot
        self.groups: list[int] = []
        self.private: list[str] = []
        self.texts: list[str] = []  # every send's text, in order
        self.held: int | None = None
        self.holding = asyncio.Event()
        self.ws = None

    def said(self, start: str) -> list[str]:
        return [t for t in self.texts if t.startswith(start)]

    async def serve(self, port: int, hold_after: int | None = None) -> None:
        url = f"ws://127.0.0.1:{port}/onebot/v11/ws"
        with contextlib.suppress(Exception):  # its process killed under it
            async with connect(url, additional_headers={"X-Self-ID": str(self.bot)}) as ws:
                self.ws = ws
                async for raw in ws:
                    frame = json.loads(raw)
                    if "action" not in frame:
                        continue
                    sent = parse_sent(frame["action"], frame["params"])
                    self.texts.append(sent.text)
                    if sent.target.startswith("group:"):
                        gid = int(sent.target.split(":")[1])
                        if hold_after is not None and len(self.groups) == hold_after:
                            self.held = gid
                            self.holding.set()
                            continue  # never answered: then the power cut
                        self.groups.append(gid)
                    else:
                        self.private.append(sent.text)
                    await ws.send(json.dumps({"status": "ok", "retcode": 0,
                                              "data": {"message_id": 1},
                                              "echo": frame["echo"]}))


async def until(check, limit: float = FRAME_S * 3, what: str = "") -> None:
    deadline = time.monotonic() + limit
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {limit}s: {what}")
        await asyncio.sleep(0.05)


async def test_three_processes_share_a_broadcast_and_survive_a_kill9(
    tmp_path: Path, district_url: str
) -> None:
    url = district_url
    # Never the host's date or hour.
    base = district_env(url, 0.005, GRIDBOT_CLOCK_START=TEST_EPOCH.isoformat())
    prepare(tmp_path, base, url)
    ports = [free_port() for _ in ACCOUNTS]
    procs: list[Gridbot] = []
    for i, port in enumerate(ports):
        workdir = tmp_path / f"p{i + 1}"
        workdir.mkdir()
        env = base | {"PORT": str(port), "GRIDBOT_DATA_DIR": str(workdir / "data")}
        procs.append(Gridbot(workdir, env, f"p{i + 1}"))
    a, b, c = (Account(bot) for bot in ACCOUNTS)
    c_too = Account(ACCOUNTS[2])  # the third account is connected to the first process too
    tasks: list[asyncio.Task] = []
    try:
        for p in procs:
            await p.listening()
        tasks = [asyncio.create_task(a.serve(ports[0])),
                 asyncio.create_task(b.serve(ports[1], hold_after=HOLD_AFTER)),
                 asyncio.create_task(c.serve(ports[2])),
                 asyncio.create_task(c_too.serve(ports[0]))]
        await until(lambda: all(x.ws is not None for x in (a, b, c, c_too)), what="connected")
        await a.ws.send(message(a.bot, STAFF, "/广播 戴好口罩，健康你我"))
        await until(lambda: any("#" in t for t in a.private), what="the preview")
        number = int(next(t for t in a.private if "#" in t).split("#", 1)[1].split()[0])
        await a.ws.send(message(a.bot, STAFF, f"/确认 {number}"))

        await asyncio.wait_for(b.holding.wait(), FRAME_S * 3)
        killed_pid = procs[1].proc.pid
        procs[1].kill9()
        moved = asyncio.create_task(b.serve(ports[2]))  # NapCat's second WebSocket
        tasks.append(moved)

        def settled() -> bool:
            rows = pgdb.execute(url, "SELECT count(*) FROM outboxitem WHERE source = ?"
                                " AND state IN ('pending', 'sending')", f"broadcast:{number}")
            return rows[0][0] == 0
        await until(settled, what="every row settled")
    finally:
        for t in tasks:
            t.cancel()
        for p in procs:
            p.stop()
    rows = pgdb.execute(url, "SELECT target, bot_id, state, claimed_by FROM outboxitem"
                        " WHERE source = ?", f"broadcast:{number}")
    assert len(rows) == N
    got = a.groups + b.groups + c.groups + c_too.groups
    assert len(got) == len(set(got))  # nobody twice
    # An account connected to two processes is sent for by one of them only.
    assert sorted([len(c.groups), len(c_too.groups)]) == [0, N // 3]
    c.groups += c_too.groups
    for target, bot_id, state, claimed_by in rows:
        gid = int(target)
        mine = {ACCOUNTS[0]: a, ACCOUNTS[1]: b, ACCOUNTS[2]: c}[int(bot_id)]
        if state == "sent":
            assert gid in mine.groups  # by its own account, once
        else:
            # In flight in the killed process: unknown, never sent again.
            assert state == "unknown", (target, state)
            assert claimed_by.split("/")[1] == str(killed_pid)
    unknown = {int(t) for t, _, s, _ in rows if s == "unknown"}
    assert b.held in unknown and b.held not in got
    assert {int(t) for t, _, s, _ in rows if s == "sent"} | unknown == set(
        range(FIRST, FIRST + N))
    # The moved account's rest went out from the third process, after the kill.
    assert len(b.groups) > HOLD_AFTER


WORK = 890001
REMINDER_CLOCK = TEST_EPOCH.replace(minute=0, second=30)  # 10:00:30: 10:01 is near


def group_message(bot: int, user_id: int, group_id: int, text: str) -> str:
    return json.dumps({
        "time": int(time.time()), "self_id": bot, "post_type": "message",
        "message_type": "group", "sub_type": "normal", "message_id": 1, "user_id": user_id,
        "group_id": group_id, "message": [{"type": "text", "data": {"text": text}}],
        "raw_message": text, "font": 0,
        "sender": {"user_id": user_id, "nickname": "工作人员", "role": "member"},
    })


def lease_pid(url: str) -> int | None:
    rows = pgdb.execute(url, "SELECT holder FROM schedulerlease WHERE name = 'scheduler'"
                        " AND expires_at > (now() AT TIME ZONE 'UTC')")
    return int(rows[0][0].split("/")[1]) if rows else None


async def test_a_due_reminder_fires_once_across_three_processes_even_when_its_holder_dies(
    tmp_path: Path, district_url: str
) -> None:
    """Two reminders set through a process that does not schedule: the one holding
    the scheduling lease fires the first once; it is killed 15 s before the second
    is due, and one of the other two takes the lease over and fires it once."""
    url = district_url
    base = district_env(url, 0.0)
    prepare(tmp_path, base, url)
    ports = [free_port() for _ in ACCOUNTS]
    procs: list[Gridbot] = []
    work = Account(ACCOUNTS[0])  # the work group's bot account
    task = None
    try:
        # Each process's clock ticks from 10:00:30 when it starts; the first to
        # start takes the lease. The work group's account talks to the second.
        for i, port in enumerate(ports):
            workdir = tmp_path / f"p{i + 1}"
            workdir.mkdir()
            env = base | {"PORT": str(port), "GRIDBOT_DATA_DIR": str(workdir / "data"),
                          "GRIDBOT_CLOCK_START": REMINDER_CLOCK.isoformat()}
            procs.append(Gridbot(workdir, env, f"p{i + 1}"))
            if i == 0:
                started = time.monotonic()  # the leader's clock reads 10:00:30 at most
            await procs[-1].listening()
            if i == 0:
                await until(lambda: lease_pid(url) == procs[0].proc.pid, what="the lease")
        task = asyncio.create_task(work.serve(ports[1]))
        await until(lambda: work.ws is not None, what="connected")
        await work.ws.send(group_message(work.bot, STAFF, WORK, "/绑定群 幸福社区 工作群"))
        await until(lambda: work.said("已将本群登记为"), what="bound")
        for when, what in (("10:01", "第一条"), ("10:02", "第二条")):
            await work.ws.send(group_message(work.bot, STAFF, WORK, f"/提醒 {when} {what}"))
            await until(lambda what=what: any(what in t for t in work.said("已设置提醒")),
                        what=f"reminder {what}")
        await until(lambda: work.said("【提醒 #1】"), limit=90, what="#1")
        # Killed at least 15 s before #2 is due on the leader's clock (10:02 is 90 s
        # after 10:00:30, and its clock started after `started`).
        await asyncio.sleep(max(0.0, 90 - 15 - (time.monotonic() - started)))
        assert lease_pid(url) == procs[0].proc.pid
        assert work.said("【提醒 #2】") == []
        procs[0].kill9()
        await until(lambda: work.said("【提醒 #2】"), limit=90, what="#2")
        await asyncio.sleep(3)  # anything twice would have come by now
        assert lease_pid(url) in (procs[1].proc.pid, procs[2].proc.pid)
    finally:
        if task is not None:
            task.cancel()
        for p in procs:
            p.stop()
    assert work.said("【提醒 #1】") == ["【提醒 #1】第一条"]
    assert work.said("【提醒 #2】") == ["【提醒 #2】第二条"]
    states = pgdb.execute(url, "SELECT ref_id, state FROM scheduleditem"
                          " WHERE kind = 'reminder.due' ORDER BY ref_id")
    assert states == [(1, "done"), (2, "done")]
