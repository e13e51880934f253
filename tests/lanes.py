"""Run commands side by side, each in its own lane, and report them one after the other.

    python -m tests.lanes [--budget SECONDS] "CMD1" "CMD2" ...

`make test` runs its suites this way: the suite mostly waits (on sockets, processes,
timers), so two runs share two cores well. Each lane's output goes to a file and is
printed whole when every lane has ended, then one line per lane; the exit status is
the first failing lane's.

A lane still running after the budget (default ``$GRIDBOT_LANES_BUDGET`` or 40 min),
or when this process is told to stop (SIGTERM, SIGINT), is stopped, and its report
says which test it was in and where every thread and asyncio task of its pytest
processes was waiting (tests/watchdog.py answers SIGUSR1 and SIGUSR2). Such a lane
exits 124.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

DEFAULT_BUDGET = 40 * 60
STOPPED = 124


@dataclass
class Lane:
    number: int
    command: str
    proc: subprocess.Popen
    log: Path
    status: Path
    rc: int | None = None
    seconds: float = 0.0
    stopped: bool = False


def _session_pids(sid: int) -> list[int]:
    """Processes of the lane's session (its pytest runs and what they started)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getsid(int(entry.name)) == sid:
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def _is_pytest(pid: int) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    # `python -m pytest …` or a `pytest` script; not a wrapper that has pytest in its
    # arguments (tests.pgserver: SIGUSR1 would end it before it stops its server).
    return argv[1:3] == [b"-m", b"pytest"] or argv[0].endswith(b"pytest")


def _stop(lane: Lane) -> None:
    """Ask the lane's pytest processes where they are waiting, then end the lane."""
    lane.stopped = True
    pytests = [pid for pid in _session_pids(lane.proc.pid) if _is_pytest(pid)]
    for sig in (signal.SIGUSR1, signal.SIGUSR2):
        for pid in pytests:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        time.sleep(2)
    for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(lane.proc.pid, sig)
        except OSError:
            break
        try:
            lane.proc.wait(timeout=grace)
            break
        except subprocess.TimeoutExpired:
            continue


def run(commands: list[str], budget: float) -> int:
    logs = Path(tempfile.mkdtemp(prefix="gridbot-lanes-"))
    started = time.monotonic()
    lanes: list[Lane] = []
    for i, command in enumerate(commands, 1):
        log, status = logs / f"lane{i}.log", logs / f"lane{i}.test"
        with log.open("w") as out:
            proc = subprocess.Popen(
                command, shell=True, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stoppable as a whole
                env={**os.environ, "GRIDBOT_LANE_STATUS": str(status)})
        lanes.append(Lane(i, command, proc, log, status))
        print(f"== lane {i}: {command}", flush=True)

    told_to_stop: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        told_to_stop.append(signum)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)

    while any(lane.rc is None for lane in lanes):
        over = time.monotonic() - started > budget
        for lane in lanes:
            if lane.rc is None and lane.proc.poll() is None and (over or told_to_stop):
                _stop(lane)
            if lane.rc is None and (rc := lane.proc.poll()) is not None:
                lane.rc = STOPPED if lane.stopped else rc
                lane.seconds = time.monotonic() - started
        time.sleep(0.5)

    for lane in lanes:
        print(f"\n== lane {lane.number} ({lane.command}): exit {lane.rc}", flush=True)
        sys.stdout.write(lane.log.read_text(errors="replace"))
    print()
    for lane in lanes:
        line = f"== lane {lane.number}: exit {lane.rc} after {lane.seconds:.0f} s: {lane.command}"
        if lane.stopped:
            test = lane.status.read_text().strip() if lane.status.exists() else "(none yet)"
            why = "told to stop" if told_to_stop else f"over the budget of {budget:.0f} s"
            stacks = lane.status.with_name(lane.status.name + ".stacks")
            dump = stacks.read_text().strip() if stacks.exists() else ""
            line += f"\n   stopped ({why}) in {test}"
            if dump:
                print(f"\n== lane {lane.number}: where it was waiting\n{dump}\n")
                line += "; where it waited: above"
        print(line, flush=True)
    return next((lane.rc for lane in lanes if lane.rc), 0)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.lanes")
    parser.add_argument("--budget", type=float,
                        default=float(os.environ.get("GRIDBOT_LANES_BUDGET", DEFAULT_BUDGET)))
    parser.add_argument("commands", nargs="+")
    args = parser.parse_args(argv)
    return run(args.commands, args.budget)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
