"""``GET /healthz`` for a container's healthcheck: 200 while the database answers,
503 once it does not (and nothing else either way)."""

from __future__ import annotations

from bot.runtime import Runtime
from storage.db import Database
from tests.helpers import console_client
from tests.test_run_process import free_port


async def test_healthz_follows_the_database(runtime: Runtime) -> None:
    async with console_client() as client:
        ok = await client.get("/healthz")
        assert (ok.status_code, ok.text) == (200, "ok")
        db = runtime.db
        # A database server nobody listens for: as when PostgreSQL is down.
        runtime.db = Database(f"postgresql+asyncpg://gridbot@127.0.0.1:{free_port()}/gridbot")
        try:
            down = await client.get("/healthz")
        finally:
            await runtime.db.dispose()
            runtime.db = db
        assert (down.status_code, down.text) == (503, "database unavailable")
