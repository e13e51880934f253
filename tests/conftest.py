"""Test harness: real NoneBot + OneBot v11 adapter (via nonebug), real SQLite files."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import nonebot
import pytest
from nonebug import NONEBOT_INIT_KWARGS

from bot.clock import ManualClock
from bot.runtime import Runtime, install_runtime
from bot.settings import Settings
from storage import migrate
from storage.db import Database
from tests import pgdb
from tests.helpers import TEST_EPOCH

SUPERUSER = "qq:99999"
DATA = Path(__file__).with_name("data")

pytest_plugins = ["tests.watchdog"]


# Modules whose tests depend on time (scheduler, outbox pacing and quiet hours,
# retention, deadlines, time parsing): marked `time`, the subset `make test` also
# runs with the host clock moved to a leap day and a year end.
TIME_MODULES = {
    "test_alerts", "test_assist", "test_broadcast_ack", "test_broadcast_ws",
    "test_checkin_kill9", "test_checkin_outbox", "test_checkin_scheduler", "test_duties",
    "test_incidents", "test_outbox",
    "test_outbox_faults", "test_outbox_kill9", "test_parse", "test_policy", "test_quarantine",
    "test_reminders", "test_retention", "test_scheduler_core", "test_scheduler_process",
    "test_slogans", "test_supervision", "test_supervision_record", "test_webhook",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.module is not None and item.module.__name__.rsplit(".", 1)[-1] in TIME_MODULES:
            item.add_marker(pytest.mark.time)


def pytest_configure(config: pytest.Config) -> None:
    settings = Settings(superusers={SUPERUSER}, log_level="WARNING")
    kwargs = settings.nonebot_kwargs()
    kwargs["console_headless_mode"] = True  # the console adapter without its TUI
    kwargs["api_timeout"] = 3.0  # a send lost with a dropped socket times out quickly
    config.stash[NONEBOT_INIT_KWARGS] = kwargs


@pytest.fixture(scope="session", autouse=True)
async def after_nonebot_init(after_nonebot_init: None) -> None:
    from nonebot.adapters.onebot.v11 import Adapter as OneBotV11Adapter

    from bot.app import load_plugins

    nonebot.get_driver().register_adapter(OneBotV11Adapter)
    load_plugins()


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated database file, copied for each test (Alembic once, not per test)."""
    path = tmp_path_factory.mktemp("template") / "gridbot.db"
    url = f"sqlite+aiosqlite:///{path}"
    migrate.upgrade(url)
    return path


@pytest.fixture(scope="session")
def template_pg() -> str | None:
    """On PostgreSQL (``GRIDBOT_TEST_PG_URL``): the session's migrated database."""
    return pgdb.template() if pgdb.SERVER else None


@pytest.fixture
def db_url(template_db: Path, template_pg: str | None, tmp_path: Path):
    """This test's own migrated database: an SQLite file, or on PostgreSQL the
    session's database, emptied back to its migrated state afterwards."""
    if template_pg is None:
        path = tmp_path / "gridbot.db"
        shutil.copy(template_db, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    yield template_pg
    pgdb.reset(template_pg)


@pytest.fixture
async def runtime(db_url: str, tmp_path: Path):
    settings = Settings(gridbot_db_url=db_url, superusers={SUPERUSER},
                        gridbot_data_dir=str(tmp_path))
    # Never the host's clock: a test must not depend on the real date or hour.
    rt = Runtime(settings=settings, db=Database(settings.db_url),
                 clock=ManualClock(TEST_EPOCH, ticking=True))
    install_runtime(rt)
    yield rt
    await rt.db.dispose()


@pytest.fixture
async def street(runtime: Runtime) -> Runtime:
    """The test street from tests/data: units with leaders and a staff roster."""
    from storage.importer import import_rows, read_table, validate

    for name in ("units.csv", "staff.csv"):
        kind, rows = validate(read_table(DATA / name))
        async with runtime.db.write() as s:
            await import_rows(s, kind, rows)
    return runtime


@pytest.fixture
async def scheduler_stopped(runtime: Runtime):
    """At the end of the test, stop the scheduler installed as ``runtime.scheduler``
    (``start_scheduler`` installs it there; a restart replaces it), in place of a
    try/finally in the test. Ask for it after ``peer`` and ``outbox``: it is stopped
    before they are."""
    yield
    if runtime.scheduler is not None:
        await runtime.scheduler.stop()


BOT_ID = 8888


@pytest.fixture
async def peer(app, street):
    """A OneBot v11 implementation connected to the real adapter over the WS route."""
    from tests.onebot import OneBotPeer

    async with app.test_server() as ctx:
        client = ctx.get_client()
        async with client.websocket_connect(
            "/onebot/v11/ws", headers={"X-Self-ID": str(BOT_ID)}
        ) as ws:
            yield OneBotPeer(ws, BOT_ID)
        # A handler still waiting for an answer to a send this test never read would
        # time out later and answer into the next test's connection: it ends here.
        from nonebot.adapters.onebot.v11 import Adapter as OneBotV11Adapter

        pending = [t for t in nonebot.get_adapter(OneBotV11Adapter).tasks if not t.done()]
        if pending:  # (`--durations` shows a test that left one: a 3 s teardown)
            await asyncio.wait(pending, timeout=10)


def dump_db(runtime: Runtime, skip: tuple[str, ...] = ()) -> list[str]:
    """Every row of every table, to compare before/after a rejected command
    (``skip``: tables left out, such as the question a held-back command asked).
    The command counts of /帮助 (``commanduse``) are never compared: every
    command counts, refused or not."""
    import sqlite3

    from storage.db import backend, db_path

    if backend(runtime.settings.db_url) == "postgresql":
        return pgdb.dump(runtime.settings.db_url, (*skip, "commanduse", "alembic_version"))
    conn = sqlite3.connect(db_path(runtime.settings.db_url))
    skipped = tuple(f'INSERT INTO "{t}"' for t in (*skip, "commanduse"))
    try:
        return [line for line in conn.iterdump()
                if line.startswith("INSERT") and not line.startswith(skipped)]
    finally:
        conn.close()


@pytest.fixture
async def outbox(runtime: Runtime):
    """The real outbox behind the runtime's delivery, fast pacing, running."""
    from bot.app import attach_outbox
    from bot.outbox import Pacing

    fast = Pacing(interval=0.0, jitter=0.0, per_minute=100_000)
    runtime.settings.pacing = {"qq": fast.__dict__}
    box = attach_outbox(runtime, poll=0.05)
    await box.start()
    yield box
    await box.stop()
