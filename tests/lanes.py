"""Run commands side by side, each in its own lane, and report them one after the other.

    python -m tests.lanes "CMD1" "CMD2" ...

`make test` runs its suites this way: the suite mostly waits (on sockets, processes,
timers), so two runs share two cores well. Each lane's output goes to a file and is
printed whole when every lane has ended, then one line per lane; the exit status is
the first failing lane's.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main(commands: list[str]) -> int:
    if not commands:
        print("usage: python -m tests.lanes CMD ...", file=sys.stderr)
        return 2
    logs = Path(tempfile.mkdtemp(prefix="gridbot-lanes-"))
    started = time.monotonic()
    lanes = []
    for i, command in enumerate(commands, 1):
        log = (logs / f"lane{i}.log").open("w")
        proc = subprocess.Popen(command, shell=True, stdout=log, stderr=subprocess.STDOUT)
        lanes.append((command, proc, log, logs / f"lane{i}.log"))
        print(f"== lane {i}: {command}", flush=True)
    results = []
    for command, proc, log, path in lanes:
        rc = proc.wait()
        log.close()
        results.append((command, rc, time.monotonic() - started, path))
    for i, (command, rc, _, path) in enumerate(results, 1):
        print(f"\n== lane {i} ({command}): exit {rc}", flush=True)
        sys.stdout.write(path.read_text(errors="replace"))
    print()
    for i, (command, rc, seconds, _) in enumerate(results, 1):
        print(f"== lane {i}: exit {rc} after {seconds:.0f} s: {command}")
    return next((rc for _, rc, _, _ in results if rc != 0), 0)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
