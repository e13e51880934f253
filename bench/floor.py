"""Benchmark: gridbot's /打卡 against the framework floor, two real processes.

The floor is a *bare* NoneBot2 process: FastAPI driver, OneBot v11 adapter, one
`/echo` matcher, nothing of gridbot loaded. Beside it runs a real
`gridbot run --no-console` with a street of 3,000 units and an open round. One
OneBot v11 client drives both over real loopback WebSockets, in one run:

* sequential: one event in flight, N round trips each (event frame in -> the
  bot's send action out, answered at once as an implementation does);
* 32 in flight: as many round trips as fit in a fixed window, per process.

The two processes take turns in ``--rounds`` slices of each measure (alternating which
goes first), so the VM's drift over a run falls on both alike.

Each /打卡 is a different unit's first report of the round (the common case).
Reported as p50 / p99 / throughput and as ratios to the floor.

    .venv/bin/python bench/floor.py [--n 300] [--window 10] [--units 3000] [--rounds 4]

Goals (issue "one command kit"): sequential p50 <= 2.0x floor, throughput with
32 in flight >= 0.5x floor, p99 with 32 in flight <= 300 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests import loadrig  # noqa: E402  (the shared real-process harness)

BARE = textwrap.dedent(
    """
    import sys
    import nonebot
    from nonebot import on_command
    from nonebot.adapters import Bot, Event, Message
    from nonebot.adapters.onebot.v11 import Adapter
    from nonebot.params import CommandArg

    nonebot.init(driver="~fastapi+~websockets", host="127.0.0.1", port=int(sys.argv[1]),
                 command_start={"/"}, log_level="WARNING")
    nonebot.get_driver().register_adapter(Adapter)
    echo = on_command("echo")

    @echo.handle()
    async def _(bot: Bot, event: Event, arg: Message = CommandArg()):
        await bot.send(event, arg.extract_plain_text() or "echo")

    nonebot.run()
    """
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """One WebSocket as the OneBot implementation: events out, actions answered."""

    def __init__(self, ws, bot: int = loadrig.BOT, group: int = loadrig.WORK_GROUP) -> None:
        self.ws = ws
        self.bot, self.group = bot, group
        self.waiting: dict[int, asyncio.Future] = {}
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for frame in loadrig.actions(self.ws):
            params = frame.get("params", {})
            user = _addressed(params)
            fut = self.waiting.pop(user, None) if user is not None else None
            if fut is not None and not fut.done():
                fut.set_result(time.perf_counter())

    async def round_trip(self, user: int, text: str) -> float:
        fut = asyncio.get_running_loop().create_future()
        self.waiting[user] = fut
        t0 = time.perf_counter()
        await self.ws.send(loadrig.group_event(user, text, self.group, self.bot))
        return (await asyncio.wait_for(fut, 60)) - t0

    async def close(self) -> None:
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.reader


def _addressed(params: dict) -> int | None:
    """Whom a reply is for: the @-mention (gridbot) or the echoed user id (floor)."""
    message = params.get("message")
    if isinstance(message, list):
        for seg in message:
            if seg.get("type") == "at":
                return int(seg["data"]["qq"])
            if seg.get("type") == "text" and seg["data"]["text"].startswith("u"):
                return int(seg["data"]["text"][1:].split()[0])
    if isinstance(message, str) and message.startswith("u"):
        return int(message[1:].split()[0])
    return None


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))] * 1000


async def sequential(client: Client, texts: list[tuple[int, str]]) -> list[float]:
    return [await client.round_trip(u, t) for u, t in texts]


async def in_flight(client: Client, texts, window: float, width: int = 32):
    """``width`` senders, each waiting for its answer before the next; ``window`` seconds."""
    lat: list[float] = []
    feed = iter(texts)
    end = time.perf_counter() + window

    async def worker() -> None:
        while time.perf_counter() < end:
            try:
                u, t = next(feed)
            except StopIteration:
                return
            lat.append(await client.round_trip(u, t))

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(width)))
    return lat, len(lat) / (time.perf_counter() - t0)


def main(n: int, window: float, units: int, rounds: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="gridbot-floor-"))
    bare_port, bot_port = free_port(), free_port()
    bare = subprocess.Popen([sys.executable, "-c", BARE, str(bare_port)], cwd=work,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = loadrig.bot_env(work, bot_port)
    print(f"importing {units} units …", flush=True)
    loadrig.import_street(work, env, units)
    bot = loadrig.BotProcess(work, env)
    try:
        loadrig.wait_listening(bare_port, bare)
        rows = asyncio.run(measure(bare_port, bot, n, window, units, rounds))
    finally:
        bot.stop()
        bare.terminate()
        bare.wait(10)
    report(rows)


async def measure(bare_port: int, bot, n: int, window: float, units: int, rounds: int):
    async with connect(f"ws://127.0.0.1:{bare_port}/onebot/v11/ws",
                       additional_headers={"X-Self-ID": str(loadrig.BOT)},
                       max_queue=None) as ws_bare, loadrig.onebot(bot) as side:
        await loadrig.prepare_round(side)
        await side.close()  # the bench's own client reads this socket from here on
        floor, ours = Client(ws_bare), Client(side.ws)
        users = [300000 + i for i in range(units)]
        echo_texts = ((u, f"/echo u{u}") for u in itertools.cycle(users))
        checkins = iter((300000 + i, loadrig.report_text(i)) for i in range(units))
        # warm-up
        await sequential(floor, [next(echo_texts) for _ in range(50)])
        await sequential(ours, [next(checkins) for _ in range(50)])
        # The VM's speed drifts over a run: the two processes take turns, in slices,
        # alternating which goes first, so a slow minute falls on both.
        seq_floor: list[float] = []
        seq_ours: list[float] = []
        con_floor: list[float] = []
        con_ours: list[float] = []
        spent = {"floor": [0, 0.0], "ours": [0, 0.0]}
        for r in range(rounds):
            turns = [(floor, echo_texts, seq_floor, con_floor, "floor"),
                     (ours, checkins, seq_ours, con_ours, "ours")]
            for client, texts, seq, con, name in turns if r % 2 == 0 else turns[::-1]:
                seq += await sequential(client, [next(texts) for _ in range(n // rounds)])
                t0 = time.perf_counter()
                lat, _ = await in_flight(client, texts, window / rounds)
                con += lat
                spent[name][0] += len(lat)
                spent[name][1] += time.perf_counter() - t0
        await floor.close()
        await ours.close()
    tput = {k: count / seconds for k, (count, seconds) in spent.items()}
    return [
        ("bare NoneBot2 /echo", seq_floor, con_floor, tput["floor"]),
        ("gridbot /打卡", seq_ours, con_ours, tput["ours"]),
    ]


def report(rows) -> None:
    (_, seq_floor, _, tput_floor), (_, seq_ours, con_ours, tput_ours) = rows
    print(f"\n{'process':<22}{'seq p50':>10}{'seq p99':>10}{'32: /s':>10}{'32: p99':>10}")
    for name, seq, con, tput in rows:
        print(f"{name:<22}{pct(seq, .5):>8.1f}ms{pct(seq, .99):>8.1f}ms{tput:>10.0f}"
              f"{pct(con, .99):>8.0f}ms")
    r_p50 = pct(seq_ours, .5) / pct(seq_floor, .5)
    r_tput = tput_ours / tput_floor
    print(f"\nratio: sequential p50 {r_p50:.1f}x floor (goal <= 2.0x), throughput with 32 in "
          f"flight {r_tput:.2f}x floor (goal >= 0.5x), p99 with 32 in flight "
          f"{pct(con_ours, .99):.0f} ms (goal <= 300 ms)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--units", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=4,
                        help="slices per measure, the two processes taking turns")
    args = parser.parse_args()
    main(args.n, args.window, args.units, args.rounds)
