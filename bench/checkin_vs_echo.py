"""Benchmark: /打卡 against an echo command over the same real OneBot v11 WebSocket.

Both commands go through the real NoneBot + OneBot adapter, in-process (nonebug's
test server, as in tests/), in one run and interleaved, so they share the
machine's state; the echo command (registered here only) is the framework floor.
Every sample is one sequential round trip: event frame in -> `send_group_msg`
action out (answered at once, as an implementation does).

    .venv/bin/python bench/checkin_vs_echo.py [--n 1000] [--units 200]

A third command, ``echo+guard``, is the echo behind ``Guard(LEADER_PERM)``: the
permission check every /打卡 passes first, so the table shows how much of the
difference is the shared role lookup and how much the check-in itself.

By default the street has more units than samples, so every /打卡 is a unit's
first report of the round (the common case); ``--units 200`` makes most of them
amendments. ``--freeze-gc`` calls ``gc.freeze()`` after warm-up (what a
long-running process can do at start) to take gen-2 collections of the
framework's objects out of the tail. ``--what-if-one-query-roles`` measures a
proposed change outside this plugin: ``bot.permissions`` looking roles up in
one query instead of ``storage.repo.roles_of_account``'s four (see
docs/benchmarks.md); it is off by default and labelled in the output.

Goal: p50 and p99 of /打卡 <= 1.3 x echo's.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

# Module level: NoneBot resolves handler annotations against the module's globals.
from nonebot.adapters import Bot, Event, Message
from nonebot.params import CommandArg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BOT = 8888
GROUP = 700000
GOAL = 1.3


def roster_csv(units: int) -> str:
    lines = ["社区,网格,楼栋,单元,户数,楼长,楼长账号,单元长,单元长账号"]
    for i in range(units):
        b, u = i // 2 + 1, i % 2 + 1
        lines.append(
            f"幸福社区,第{b // 10 + 1}网格,{b}栋,{u}单元,30,楼长{b},qq:{20000 + b},"
            f"单元长{i},qq:{300000 + i}"
        )
    return "\n".join(lines)


def init_nonebot(db_url: str):
    import nonebot
    from nonebot.adapters.onebot.v11 import Adapter
    from nonebot.matcher import matchers
    from nonebug.provider import NoneBugProvider

    from bot.app import load_plugins
    from bot.runtime import Runtime, install_runtime
    from bot.settings import Settings
    from storage.db import Database

    settings = Settings(gridbot_db_url=db_url, log_level="WARNING", superusers=set())
    nonebot.init(**settings.nonebot_kwargs())
    matchers.set_provider(NoneBugProvider)
    nonebot.get_driver().register_adapter(Adapter)
    load_plugins()
    register_echo()
    runtime = Runtime(settings, Database(db_url))
    install_runtime(runtime)
    return runtime


def register_echo() -> None:
    """The floor: a command that parses nothing, reads nothing, and answers through
    the same delivery seam (`Delivery.reply` -> `send_group_msg`) as /打卡."""
    from nonebot import on_command

    from bot.permissions import LEADER_PERM, Guard
    from bot.runtime import current_runtime

    echo = on_command("echo", priority=10, block=True)

    @echo.handle()
    async def _echo(bot: Bot, event: Event, args: Message = CommandArg()) -> None:
        await current_runtime().delivery.reply(bot, event, args.extract_plain_text())

    guarded = on_command("echoguard", priority=10, block=True)

    @guarded.handle(parameterless=[Guard(LEADER_PERM)])
    async def _guarded(bot: Bot, event: Event, args: Message = CommandArg()) -> None:
        await current_runtime().delivery.reply(bot, event, args.extract_plain_text())


async def prepare(runtime, units: int) -> None:
    from plugins.checkin import service
    from storage.importer import import_rows, parse_csv_text, validate
    from storage.models import ChatGroup
    from storage.repo import Scope

    kind, rows = validate(parse_csv_text(roster_csv(units)))
    async with runtime.db.write() as s:
        await import_rows(s, kind, rows)
        s.add(ChatGroup(platform="qq", group_id=str(GROUP), bot_id=str(BOT), kind="work",
                        scope_kind="community", scope_id=1))
    async with runtime.db.write() as s:
        await service.open_round(
            s, actor="bench", title="基准测试排查", scope=Scope("community", (1,), "幸福社区"),
            deadline=runtime.now() + timedelta(days=1), now=runtime.now(),
        )


def one_query_roles() -> None:
    """What-if only: the role lookup behind every Guard as a single UNION query."""
    from sqlalchemy import bindparam, or_, union_all
    from sqlalchemy import select as sa_select
    from sqlmodel import col

    import bot.permissions as permissions
    from ground.timeutil import utcnow
    from storage.models import Account, RoleGrant, TeamMember

    query = union_all(
        sa_select(RoleGrant.role)
        .join(Account, col(Account.person_id) == RoleGrant.person_id)
        .where(
            col(Account.id) == bindparam("account"),
            or_(col(RoleGrant.expires_at).is_(None), col(RoleGrant.expires_at) > bindparam("now")),
        ),
        sa_select(TeamMember.team)
        .join(Account, col(Account.person_id) == TeamMember.person_id)
        .where(col(Account.id) == bindparam("account")),
    )

    async def roles_of_account(session, account, now=None):
        conn = await session.connection()
        rows = await conn.execute(query, {"account": account, "now": now or utcnow()})
        return {r[0] for r in rows.all()}

    permissions.roles_of_account = roles_of_account


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run(n: int, units: int, freeze_gc: bool) -> dict[str, list[float]]:
    from nonebug import App

    from storage import migrate
    from tests.onebot import OneBotPeer

    workdir = Path(tempfile.mkdtemp(prefix="gridbot-bench-"))
    db_url = f"sqlite+aiosqlite:///{workdir / 'gridbot.db'}"
    migrate.upgrade(db_url)
    runtime = init_nonebot(db_url)
    await prepare(runtime, units)

    def report(i: int) -> str:
        unit = i % units
        return f"{unit // 2 + 1}栋{unit % 2 + 1}单元 已排查{i % 30}户 返区0 隔离{i % 3} 异常0"

    commands = {
        "echo": lambda i: f"/echo {report(i)}",
        "echo+guard": lambda i: f"/echoguard {report(i)}",
        "/打卡": lambda i: f"/打卡 {report(i)}",
    }
    samples: dict[str, list[float]] = {name: [] for name in commands}
    async with App().test_server() as ctx:
        client = ctx.get_client()
        async with client.websocket_connect(
            "/onebot/v11/ws", headers={"X-Self-ID": str(BOT)}
        ) as ws:
            peer = OneBotPeer(ws, BOT)

            async def once(name: str, i: int) -> float:
                user = 300000 + i % units  # the unit's own leader
                started = time.perf_counter()
                await peer.group_message(user, GROUP, commands[name](i))
                sent = await peer.expect_send(timeout=10)
                elapsed = time.perf_counter() - started
                if name == "/打卡" and "：已排查" not in sent.text:
                    raise SystemExit(f"unexpected answer: {sent.text!r}")
                return elapsed * 1000

            warm = 100
            for i in range(warm):  # imports, statement caches, SQLite pages
                for name in commands:
                    await once(name, i + (0 if name != "/打卡" else n))
            gc.collect()
            if freeze_gc:
                gc.freeze()
            # Interleaved in blocks of 10 so all commands see the same machine state.
            for block in range(0, n, 10):
                for name in commands:
                    for i in range(block, min(block + 10, n)):
                        samples[name].append(await once(name, i))
    await runtime.db.dispose()
    return samples


def table(samples: dict[str, list[float]]) -> str:
    rows = ["| command | n | p50 ms | p99 ms | mean ms | throughput /s |",
            "|---|---:|---:|---:|---:|---:|"]
    stats = {}
    for name, s in samples.items():
        p50, p99, mean = pct(s, 0.5), pct(s, 0.99), statistics.fmean(s)
        stats[name] = (p50, p99, mean)
        rows.append(f"| {name} | {len(s)} | {p50:.2f} | {p99:.2f} | {mean:.2f} | "
                    f"{1000 / mean:.0f} |")
    e, c = stats["echo"], stats["/打卡"]
    g = stats["echo+guard"]
    rows.append(f"| ratio echo+guard : echo | | {g[0] / e[0]:.2f}x | {g[1] / e[1]:.2f}x | "
                f"{g[2] / e[2]:.2f}x | {e[2] / g[2]:.2f}x |")
    rows.append(f"| ratio /打卡 : echo | | {c[0] / e[0]:.2f}x | {c[1] / e[1]:.2f}x | "
                f"{c[2] / e[2]:.2f}x | {e[2] / c[2]:.2f}x |")
    verdict = "met" if c[0] <= GOAL * e[0] and c[1] <= GOAL * e[1] else "NOT met"
    rows.append("")
    rows.append(f"Goal p50 and p99 of /打卡 <= {GOAL} x echo: **{verdict}**.")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="samples per command")
    parser.add_argument("--units", type=int, default=0,
                        help="units in the street (default: enough for first reports only)")
    parser.add_argument("--freeze-gc", action="store_true", help="gc.freeze() after warm-up")
    parser.add_argument("--what-if-one-query-roles", action="store_true",
                        help="measure the proposed one-query role lookup (not the product)")
    args = parser.parse_args()
    units = args.units or args.n + 100
    if args.what_if_one_query_roles:
        one_query_roles()
    samples = asyncio.run(run(args.n, units, args.freeze_gc))
    print(f"{args.n} samples per command, {units} units, gc.freeze: {args.freeze_gc}, "
          f"WHAT-IF one-query roles: {args.what_if_one_query_roles}\n")
    print(table(samples))


if __name__ == "__main__":
    main()
