"""What only PostgreSQL does (the suite's PostgreSQL run): fresh planner statistics
after a roster import, as `gridbot import` and the console's roster upload ask for."""

from __future__ import annotations

import pytest

from bot.runtime import Runtime
from tests import pgdb

pytestmark = pytest.mark.postgresql


async def test_an_import_refreshes_the_planners_statistics(street: Runtime) -> None:
    url = street.settings.db_url
    assert not street.db.sqlite
    before = pgdb.execute(url, "SELECT last_analyze FROM pg_stat_user_tables"
                          " WHERE relname = 'unit'")
    await street.db.refresh_statistics()
    after = pgdb.execute(url, "SELECT last_analyze FROM pg_stat_user_tables"
                         " WHERE relname = 'unit'")
    assert after[0][0] is not None and after != before
