"""SIGKILL right after a `/打卡 … 异常1` commits, then a restart: the 四人一专班
alert is delivered exactly once (issue 9).

A real `gridbot run --no-console` process; the test plays the OneBot v11
implementation over a real WebSocket. In the first run the outbox's queue has
just sent something and is paced to wait an hour before the next message, so
the alert is still pending when the process dies; and the reply to `/打卡` is
never answered, so the handler is stuck *after* the commit and before anything
it would do next — the moment a push queued after the commit was lost. The
next runs are paced freely: the alert arrives once, and never again.

Every wait is on a condition (a frame arriving, a row in the SQLite file) with a
generous deadline; nothing depends on the real date or hour (the bot's clock
starts at the test epoch, the round's deadline is relative, no quiet hours).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import DATA
from tests.helpers import TEST_EPOCH
from tests.onebot import Sent, parse_sent
from tests.procs import FRAME_S, Gridbot, db_rows, wait_rows
from tests.test_run_process import free_port

BOT = 4242
STAFF = 10002  # 数据统计排查组 and 四人一专班 in tests/data/staff.csv
BUILDING_LEADER = 20002  # 陈伟, 2栋 of 幸福社区/第一网格
WORK, ALERTS, STATS = 810101, 810102, 810103
ALERT_HEAD = "【异常报告】#1「返乡排查」"
CHASE_HEAD = "【催报】#1"

pytestmark = pytest.mark.time  # outbox pacing and restarts: also run at the moved instants

_message_ids = itertools.count(1)


def pacing(interval: float) -> str:
    return json.dumps({"qq": {"interval": interval, "jitter": 0.0, "per_minute": 1_000_000}})


def clock_start(run: int) -> str:
    """Each run's clock starts at the test epoch plus a minute per restart: never
    the host's date or hour, and never earlier than the run before."""
    return (TEST_EPOCH + timedelta(minutes=run)).isoformat()


def environment(tmp_path: Path, port: int) -> dict[str, str]:
    return os.environ | {
        "HOST": "127.0.0.1", "PORT": str(port),
        "GRIDBOT_DB_URL": f"sqlite+aiosqlite:///{tmp_path / 'gridbot.db'}",
        "SUPERUSERS": '["qq:12345"]', "GRIDBOT_DEMO": "false",
        "GRIDBOT_QUIET_HOURS": "",  # nothing may wait for the morning
        "GRIDBOT_PACING": pacing(0.0),
        "GRIDBOT_CLOCK_START": clock_start(0),
    }


def import_street(workdir: Path, env: dict[str, str]) -> None:
    for name in ("units.csv", "staff.csv"):
        done = subprocess.run([sys.executable, "-m", "bot.cli", "import", str(DATA / name)],
                              env=env, cwd=workdir, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr


class Peer:
    """The OneBot implementation's side of one connection."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.seen: list[Sent] = []

    async def group_message(self, user_id: int, group_id: int, text: str) -> None:
        await self.ws.send(json.dumps({
            "time": int(time.time()), "self_id": BOT, "post_type": "message",
            "message_type": "group", "sub_type": "normal", "message_id": next(_message_ids),
            "group_id": group_id, "user_id": user_id, "anonymous": None, "font": 0,
            "message": [{"type": "text", "data": {"text": text}}], "raw_message": text,
            "sender": {"user_id": user_id, "nickname": "成员", "card": "", "role": "member"},
        }))

    async def frame(self) -> dict:
        return json.loads(await asyncio.wait_for(self.ws.recv(), FRAME_S))

    async def answer(self, frame: dict) -> None:
        await self.ws.send(json.dumps({"status": "ok", "retcode": 0,
                                       "data": {"message_id": next(_message_ids)},
                                       "echo": frame.get("echo")}))

    async def until(self, done: Callable[[Sent], bool]) -> Sent:
        """Answer every action until a message for which ``done`` holds; each
        message on the way is kept in ``seen``."""
        while True:
            frame = await self.frame()
            await self.answer(frame)
            if not frame["action"].startswith("send_"):
                continue
            sent = parse_sent(frame["action"], frame["params"])
            self.seen.append(sent)
            if done(sent):
                return sent

    async def ask(self, user_id: int, group_id: int, text: str, reply: str) -> Sent:
        await self.group_message(user_id, group_id, text)
        return await self.until(lambda s: s.target == f"group:{group_id}" and reply in s.text)

    def alerts(self) -> list[str]:
        return sorted(s.target for s in self.seen if s.text.startswith(ALERT_HEAD))


ALERT_ROWS = (
    "SELECT target, state FROM outboxitem WHERE source = 'checkin:1'"
    f" AND text LIKE '{ALERT_HEAD}%' ORDER BY target"
)
# One read, one snapshot: the report and its alerts are committed together or not at all.
REPORT_AND_ALERTS = (
    "SELECT (SELECT count(*) FROM checkinreport WHERE abnormal = 1),"
    f" (SELECT count(*) FROM outboxitem WHERE text LIKE '{ALERT_HEAD}%'"
    "   AND state = 'pending')"
)


async def chase_as_sentinel(peer: Peer) -> None:
    """`/催报`: its reply comes straight back, its push through the outbox, queued
    behind anything already pending there (the alerts have the higher priority):
    once the push arrives, a pending or resent alert would have arrived first."""
    start = len(peer.seen)

    def both_seen(_: Sent) -> bool:
        texts = [s.text for s in peer.seen[start:]]
        return (any(t.startswith(CHASE_HEAD) for t in texts)
                and any("已在1个工作群催报" in t for t in texts))

    await peer.group_message(STAFF, WORK, "/催报 #1")
    await peer.until(both_seen)


async def test_kill9_after_an_abnormal_report_then_restart(tmp_path: Path) -> None:
    port = free_port()
    env = environment(tmp_path, port)
    db = tmp_path / "gridbot.db"
    import_street(tmp_path, env)
    url = f"ws://127.0.0.1:{port}/onebot/v11/ws"
    headers = {"X-Self-ID": str(BOT)}

    # --- Run 1: one send, then the queue waits an hour; killed after the report commits.
    bot = Gridbot(tmp_path, env | {"GRIDBOT_PACING": pacing(3600.0)}, "run1")
    try:
        await bot.listening()
        async with connect(url, additional_headers=headers) as ws:
            peer = Peer(ws)
            for group, args in ((WORK, "幸福社区/第一网格 工作群"), (ALERTS, "全部 四人一专班"),
                                (STATS, "全部 数据统计排查组")):
                await peer.ask(STAFF, group, f"/绑定群 {args}", "已将本群登记为")
            await peer.ask(STAFF, WORK, "/排查 发起 返乡排查 截止 2天 范围 幸福社区",
                           "已发起排查 #1")
            # The queue's one send for the next hour (its reply comes straight back).
            await chase_as_sentinel(peer)

            await peer.group_message(BUILDING_LEADER, WORK, "/打卡 2-2 20户 异常1")
            while True:  # the reply to the report: received, never answered
                frame = await peer.frame()
                if frame["action"].startswith("send_"):
                    reply = parse_sent(frame["action"], frame["params"])
                    break
                await peer.answer(frame)
            assert reply.target == f"group:{WORK}"
            assert reply.text.startswith("2栋2单元：已排查20户，返区0，隔离0，异常1")
            assert "已通知四人一专班" in reply.text
            # Committed: in the first snapshot that shows the report, its two alerts
            # are there too, pending.
            committed = await wait_rows(db, REPORT_AND_ALERTS, lambda r: r[0][0] == 1)
            assert committed == [(1, 2)]
            bot.kill9()
        assert peer.alerts() == []  # nothing went out before the power cut
    finally:
        bot.stop()

    # --- Run 2: restarted, paced freely: the pending alert goes out once.
    bot = Gridbot(tmp_path, env | {"GRIDBOT_CLOCK_START": clock_start(1)}, "run2")
    try:
        await bot.listening()
        async with connect(url, additional_headers=headers) as ws:
            peer = Peer(ws)
            await peer.until(lambda s: len(peer.alerts()) == 2)
            await chase_as_sentinel(peer)
            assert peer.alerts() == [f"group:{ALERTS}", f"group:{STATS}"], bot.log_text()
            alert = next(s for s in peer.seen if s.target == f"group:{ALERTS}"
                         and s.text.startswith(ALERT_HEAD))
            assert "幸福社区/2栋2单元：已排查20户，返区0，隔离0，异常1" in alert.text
            assert "报告人：陈伟" in alert.text
            await wait_rows(db, ALERT_ROWS, lambda r: {s for _, s in r} == {"sent"})
    finally:
        bot.stop()
    assert db_rows(db, ALERT_ROWS) == [(str(ALERTS), "sent"), (str(STATS), "sent")]

    # --- Run 3: a second restart sends nothing again.
    bot = Gridbot(tmp_path, env | {"GRIDBOT_CLOCK_START": clock_start(2)}, "run3")
    try:
        await bot.listening()
        async with connect(url, additional_headers=headers) as ws:
            peer = Peer(ws)
            await chase_as_sentinel(peer)
            assert peer.alerts() == [], bot.log_text()
    finally:
        bot.stop()
    assert db_rows(db, ALERT_ROWS) == [(str(ALERTS), "sent"), (str(STATS), "sent")]
    assert db_rows(db, "SELECT count(*) FROM checkinreport") == [(1,)]
    for run in ("run1", "run2", "run3"):
        assert "database is locked" not in (tmp_path / f"{run}.log").read_text(errors="replace")
