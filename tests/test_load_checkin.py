"""A deadline spike on a slowed bot: every /打卡 is answered, none is lost.

A real `gridbot run --no-console` over a real OneBot v11 WebSocket, 2,000 units
imported with `gridbot import`, an open round (`截止 2天`: no dependence on the
date or hour; quiet hours off). The bot is pinned to one CPU beside two busy
loops (about a third of a core) and 200 unit leaders each send a /打卡 at once.
Each must be answered exactly once: confirmed (then in the database) or told
the bot is busy (then not in it). The log must show no error and no
"database is locked".
"""

from __future__ import annotations

import time
from pathlib import Path

from messages.render import Renderer
from tests.loadrig import (
    ADMIN,
    LEADER_BASE,
    BotProcess,
    bot_env,
    crowded,
    import_street,
    onebot,
    prepare_round,
    report_text,
    reporters,
)
from tests.test_run_process import free_port

UNITS = 2000
LEADERS = 200
CONFIRMED = "已记入 #1"


async def test_200_checkins_in_flight_on_a_slowed_bot_are_all_answered(tmp_path: Path) -> None:
    env = bot_env(tmp_path, free_port())
    import_street(tmp_path, env, UNITS)
    busy = Renderer().render("common/busy", command="打卡")
    units = [i * (UNITS // LEADERS) for i in range(LEADERS)]  # spread over the street
    leaders = [LEADER_BASE + i for i in units]
    bot = BotProcess(tmp_path, env)
    try:
        async with onebot(bot) as side:
            await prepare_round(side)
            with crowded(bot, 2, seconds=60):
                started = time.monotonic()
                for i in units:  # all 200 in flight before the first answer is read
                    await side.send(LEADER_BASE + i, report_text(i))
                await side.until_answered(leaders, timeout=45)
                took = time.monotonic() - started
            # A barrier once the hogs are gone: anything still on its way arrives first.
            await side.ask(ADMIN, "/进度 #1", "#1")
    finally:
        bot.stop()

    answers = {u: [a.sent.text for a in side.answers.get(u, [])] for u in leaders}
    assert all(len(texts) == 1 for texts in answers.values()), {
        u: t for u, t in answers.items() if len(t) != 1
    }
    confirmed = {u for u, (text,) in answers.items() if CONFIRMED in text}
    refused = {u for u, (text,) in answers.items() if text == busy}
    assert confirmed | refused == set(leaders), {
        u: t for u, t in answers.items() if u not in confirmed | refused
    }
    rows = reporters(tmp_path)
    assert len(rows) == len(set(rows)) == len(confirmed)
    assert set(rows) == {f"qq:{u}" for u in confirmed}
    assert confirmed, "no check-in got through at all"

    log = bot.log()
    assert "database is locked" not in log
    # Unhandled exceptions: NoneBot's "[ERROR] … failed" line, and a stack either way
    # (the redacting log handler prints the frames without the "Traceback" header).
    assert "Traceback" not in log and 'File "' not in log
    assert "ERROR" not in log
    busy_messages = sum(1 for a in side.everything if a.sent.text == busy)
    print(f"\n{LEADERS} /打卡 at once, bot at ~1/3 CPU: {len(confirmed)} confirmed, "
          f"{len(refused)} busy (in {busy_messages} messages), last answer after {took:.1f} s")
