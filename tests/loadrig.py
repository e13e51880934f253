"""A real `gridbot run --no-console` under load: shared by tests/test_load_checkin.py
and bench/intake_overload.py (not a test module itself).

* a street of N units, one unit leader (`qq:300000+i`) per unit, imported with
  `gridbot import` from a CSV in a temp dir;
* the bot process on a loopback port, its log in a file;
* `OnebotSide`: plays the OneBot implementation over a real WebSocket
  (`websockets`): sends event frames, answers every action at once by `echo`,
  records what the bot said and to whom;
* CPU hogs: busy-loop processes that end by themselves, pinned with the bot to
  one CPU so the bot gets a fraction of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect

from tests.onebot import Sent, parse_sent
from tests.procs import stop_process
from tests.test_run_process import wait_listening

ROOT = Path(__file__).resolve().parents[1]
BOT = 4242
WORK_GROUP = 700001
ADMIN = 99999  # a superuser: opens the round, binds the group
LEADER_BASE = 300000
COMMUNITY = "压力社区"
HEADER = "社区,网格,楼栋,单元,户数,楼长,楼长账号,单元长,单元长账号"


def roster_csv(units: int) -> str:
    """`units` units, four per building, 25 buildings per grid; every unit has its
    own 单元长 (qq:300000+i), every building a 楼长."""
    lines = [HEADER]
    for i in range(units):
        b, u = i // 4 + 1, i % 4 + 1
        lines.append(
            f"{COMMUNITY},第{(b - 1) // 25 + 1}网格,{b}栋,{u}单元,30,楼长{b},qq:{200000 + b},"
            f"单元长{i},qq:{LEADER_BASE + i}"
        )
    return "\n".join(lines) + "\n"


def unit_of(i: int) -> str:
    return f"{i // 4 + 1}栋{i % 4 + 1}单元"


def bot_env(workdir: Path, port: int, **extra: str) -> dict[str, str]:
    return os.environ | {
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "GRIDBOT_DB_URL": f"sqlite+aiosqlite:///{workdir / 'gridbot.db'}",
        "SUPERUSERS": json.dumps([f"qq:{ADMIN}"]),
        "GRIDBOT_DEMO": "false",
        "GRIDBOT_QUIET_HOURS": "",  # nothing here may depend on the hour
        "GRIDBOT_CLOCK_START": "2026-11-30T10:00:00+08:00",  # nor on the date
        "LOG_LEVEL": "INFO",
        "PYTHONPATH": str(ROOT),
    } | extra


def import_street(workdir: Path, env: dict[str, str], units: int) -> None:
    csv = workdir / "units.csv"
    csv.write_text(roster_csv(units), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "import", str(csv)],
        env=env, cwd=workdir, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr


class BotProcess:
    """`gridbot run --no-console`, stderr (NoneBot's log) into `log_path`."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.env = env
        self.port = int(env["PORT"])
        self.log_path = workdir / "gridbot.log"
        self._log = open(self.log_path, "w", encoding="utf-8")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run", "--no-console"],
            cwd=workdir, env=env, stdin=subprocess.DEVNULL,
            stdout=self._log, stderr=subprocess.STDOUT, text=True,
        )
        try:
            wait_listening(self.port, self.proc)
        except BaseException:
            self.stop()
            raise

    @property
    def pid(self) -> int:
        return self.proc.pid

    def status(self) -> dict[str, int]:
        """VmRSS / VmHWM (peak) of the bot process, in kB."""
        out = {}
        with open(f"/proc/{self.pid}/status", encoding="ascii") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out[key] = int(value.split()[0])
        return out

    def cpu_seconds(self) -> float:
        """User + system CPU time the bot process has used so far."""
        with open(f"/proc/{self.pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def threads(self) -> list[int]:
        return [int(t) for t in os.listdir(f"/proc/{self.pid}/task")]

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> int | None:
        stop_process(self.proc)
        self._log.close()
        return self.proc.returncode


def pin(tids: list[int], cpu: int) -> None:
    for tid in tids:
        with contextlib.suppress(OSError):  # a thread that just ended
            os.sched_setaffinity(tid, {cpu})


@contextlib.contextmanager
def cpu_hogs(n: int, seconds: float, cpu: int | None) -> Iterator[list[subprocess.Popen]]:
    """`n` busy loops that stop by themselves after `seconds`; killed on exit."""
    code = f"import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end: pass\n"
    procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(n)]
    try:
        if cpu is not None:
            pin([p.pid for p in procs], cpu)
        yield procs
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        for p in procs:
            p.wait()


def hog_cpu() -> int | None:
    """The CPU to crowd: the last one this process may use (None: cannot pin)."""
    try:
        return max(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


@contextlib.contextmanager
def crowded(bot: BotProcess, hogs: int, seconds: float) -> Iterator[None]:
    """``hogs`` busy loops (for at most ``seconds``) pinned with the bot's threads to
    one CPU, so the bot gets a fraction of it; no hogs: the bot runs as it is."""
    cpu = hog_cpu() if hogs else None
    with cpu_hogs(hogs, seconds=seconds, cpu=cpu):
        if cpu is not None:
            pin(bot.threads(), cpu)
        yield


async def actions(ws: ClientConnection) -> AsyncIterator[dict]:
    """Each action frame the bot sends, answered at once ("ok", by its ``echo``) as
    an implementation does; other frames are passed over."""
    async for raw in ws:
        frame = json.loads(raw)
        if "action" not in frame:
            continue
        await ws.send(json.dumps({"status": "ok", "retcode": 0,
                                  "data": {"message_id": 1}, "echo": frame["echo"]}))
        yield frame


_message_ids = itertools.count(1)


def group_event(user_id: int, text: str, group_id: int = WORK_GROUP, bot: int = BOT) -> str:
    return json.dumps({
        "time": int(time.time()), "self_id": bot, "post_type": "message",
        "message_type": "group", "sub_type": "normal", "message_id": next(_message_ids),
        "group_id": group_id, "user_id": user_id, "anonymous": None,
        "message": [{"type": "text", "data": {"text": text}}], "raw_message": text,
        "font": 0, "sender": {"user_id": user_id, "nickname": f"用户{user_id}", "card": "",
                              "role": "member"},
    })


@dataclass
class Answer:
    sent: Sent
    at: float  # time.monotonic() when the action frame arrived


@dataclass
class OnebotSide:
    """The implementation's side of one WebSocket: answers every action at once."""

    ws: ClientConnection
    bot: int = BOT  # the account this implementation is
    group: int = WORK_GROUP  # where `send` speaks unless told
    answers: dict[int, list[Answer]] = field(default_factory=dict)  # by user mentioned/addressed
    everything: list[Answer] = field(default_factory=list)  # in order of arrival
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    _reader: asyncio.Task | None = None

    def start(self) -> None:
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for frame in actions(self.ws):
            if frame["action"] not in ("send_group_msg", "send_private_msg", "send_msg"):
                continue
            sent = parse_sent(frame["action"], frame["params"])
            answer = Answer(sent, time.monotonic())
            self.everything.append(answer)
            if sent.target.startswith("private:"):
                users = [int(sent.target.split(":", 1)[1])]
            else:
                users = [int(a) for a in sent.ats]
            for user in users:
                self.answers.setdefault(user, []).append(answer)
            self.changed.set()

    async def send(self, user_id: int, text: str, group_id: int | None = None) -> float:
        await self.ws.send(group_event(user_id, text, group_id or self.group, self.bot))
        return time.monotonic()

    async def ask(self, user_id: int, text: str, contains: str, timeout: float = 30) -> Sent:
        """Send and wait for the first message after it containing `contains`."""
        seen = len(self.everything)
        await self.send(user_id, text)
        async with asyncio.timeout(timeout):
            while True:
                for answer in self.everything[seen:]:
                    if contains in answer.sent.text:
                        return answer.sent
                seen = len(self.everything)
                await self.wait_change()

    async def ask_user(self, user_id: int, text: str, timeout: float = 30) -> Sent:
        """Send and wait for the next message addressed to (or @-mentioning) `user_id`."""
        seen = len(self.answers.get(user_id, []))
        await self.send(user_id, text)
        async with asyncio.timeout(timeout):
            while len(self.answers.get(user_id, [])) <= seen:
                await self.wait_change()
        return self.answers[user_id][seen].sent

    async def wait_change(self) -> None:
        self.changed.clear()
        await self.changed.wait()

    async def until_answered(self, users: list[int], timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while any(not self.answers.get(u) for u in users):
                await self.wait_change()

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader


@contextlib.asynccontextmanager
async def onebot(bot: BotProcess):
    url = f"ws://127.0.0.1:{bot.port}/onebot/v11/ws"
    async with connect(url, additional_headers={"X-Self-ID": str(BOT)},
                       max_queue=None) as ws:
        side = OnebotSide(ws)
        side.start()
        try:
            yield side
        finally:
            await side.close()


async def prepare_round(side: OnebotSide) -> None:
    """Bind the work group over the whole community and open a round far ahead
    (`截止 2天`: relative to the bot's clock, whatever the date)."""
    await side.ask(ADMIN, f"/绑定群 {COMMUNITY} 工作群", "已将本群登记为")
    await side.ask(ADMIN, f"/排查 发起 压力测试排查 截止 2天 范围 {COMMUNITY}", "已发起排查 #1")


def report_text(i: int) -> str:
    return f"/打卡 {unit_of(i)} 已排查{i % 30}户 返区0 隔离0 异常0"


def reporters(workdir: Path) -> list[str]:
    conn = sqlite3.connect(workdir / "gridbot.db")
    try:
        return [r[0] for r in conn.execute("SELECT reporter FROM checkinreport WHERE round_id=1")]
    finally:
        conn.close()
