"""tests.lanes stops a lane that runs too long and says where it was stuck
(tests/watchdog.py answers in the lane's pytest), so a hang ends as a named failure."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

HANGS = '''
import asyncio
from pathlib import Path

async def test_waits_for_ever():
    async def stuck_inside():
        await asyncio.Event().wait()
    Path("entered").touch()
    await asyncio.gather(stuck_inside())
'''


def lanes(*args: str, cwd: Path) -> subprocess.Popen:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "tests.lanes", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_a_stopped_lane_names_its_test_and_where_it_waited(tmp_path: Path) -> None:
    """`make test` told to stop (as CI does at its limit): each lane is stopped, and the
    one stuck in a test says which, with every thread's and pending task's stack."""
    (tmp_path / "test_hangs.py").write_text(HANGS)
    pytest_cmd = (
        f"{sys.executable} -m pytest -q -p no:cacheprovider -p tests.watchdog -c /dev/null"
        f" --rootdir {tmp_path} -o asyncio_mode=auto"
        " -o asyncio_default_fixture_loop_scope=session"
        " -o asyncio_default_test_loop_scope=session test_hangs.py"
    )
    proc = lanes(pytest_cmd, "sleep 120", cwd=tmp_path)
    deadline = time.monotonic() + 60
    while not (tmp_path / "entered").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 124, out
    assert "stopped (told to stop) in test_hangs.py::test_waits_for_ever" in out
    assert "where it waited: above" in out
    assert "selectors.py" in out  # every thread's stack (faulthandler)
    assert "await asyncio.Event().wait()" in out  # and the task stuck inside the test
    assert "== lane 2: exit 124" in out and out.count("stopped (told to stop)") == 2


def test_a_lane_over_its_budget_is_stopped_and_the_others_report(tmp_path: Path) -> None:
    proc = lanes("--budget", "2", "sleep 97", "echo the other lane", cwd=tmp_path)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 124, out
    assert "stopped (over the budget of 2 s) in (none yet)" in out
    assert "== lane 2: exit 0" in out and "the other lane" in out
    assert subprocess.run(["pgrep", "-fx", "sleep 97"], capture_output=True).stdout == b""
