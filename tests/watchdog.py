"""What a stuck test leaves behind, so that a hang is a named failure, not a CI timeout.

pytest-timeout (``timeout`` in pyproject.toml) fails a test that runs too long and
prints every thread's stack; but the suite's tests are coroutines on one event loop,
and a thread dump shows that loop only waiting in ``select``. This plugin adds the
stack of every pending asyncio task to such a failure: where each one is awaiting.

When ``$GRIDBOT_LANE_STATUS`` is set (``tests.lanes`` sets it), the running test's id
is written there, and a lane that has to be stopped can ask where everything was:
SIGUSR1 dumps every thread's stack and SIGUSR2 every pending task's, both to
``$GRIDBOT_LANE_STATUS.stacks``.
"""

from __future__ import annotations

import asyncio
import faulthandler
import io
import os
import signal
from pathlib import Path

import pytest

_loops: list[asyncio.AbstractEventLoop] = []
_stacks_key = pytest.StashKey[io.TextIOWrapper]()


@pytest.fixture(scope="session", autouse=True)
async def _watch_session_loop():
    loop = asyncio.get_running_loop()
    _loops.append(loop)
    yield
    _loops.remove(loop)


def pytest_configure(config: pytest.Config) -> None:
    status = os.environ.get("GRIDBOT_LANE_STATUS")
    if not status:
        return
    stacks = open(status + ".stacks", "a")  # kept open for the whole run
    config.stash[_stacks_key] = stacks
    faulthandler.register(signal.SIGUSR1, file=stacks, all_threads=True)

    def tasks(_signum: int, _frame: object) -> None:
        stacks.write(f"asyncio tasks still pending in {os.getpid()}:\n")
        stacks.write(pending_task_stacks(_loops))
        stacks.flush()

    signal.signal(signal.SIGUSR2, tasks)


def pytest_unconfigure(config: pytest.Config) -> None:
    stacks = config.stash.get(_stacks_key, None)
    if stacks is not None:
        faulthandler.unregister(signal.SIGUSR1)
        stacks.close()


def pytest_runtest_logstart(nodeid: str) -> None:
    status = os.environ.get("GRIDBOT_LANE_STATUS")
    if status:
        Path(status).write_text(nodeid + "\n")


def pending_task_stacks(loops: list[asyncio.AbstractEventLoop]) -> str:
    out = io.StringIO()
    for loop in loops:
        for task in asyncio.all_tasks(loop):
            if not task.done():
                task.print_stack(limit=12, file=out)
    return out.getvalue()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if call.excinfo is not None and "from pytest-timeout" in str(call.excinfo.value):
        report.sections.append(("asyncio tasks still pending", pending_task_stacks(_loops)))
