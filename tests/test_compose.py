"""docker-compose.yml (a district: PostgreSQL, two gridbot processes, NapCat) is not
run here, but what it tells gridbot must be true: every variable it sets is one
the settings read, its database URL is PostgreSQL's, and both processes are
checked through /healthz (tested in tests/test_health.py)."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.settings import Settings

COMPOSE = Path(__file__).resolve().parents[1] / "docker-compose.yml"


def test_the_district_compose_file_speaks_gridbots_settings() -> None:
    spec = yaml.safe_load(COMPOSE.read_text())
    services = spec["services"]
    bots = [name for name in services if name.startswith("gridbot")]
    assert len(bots) == 2
    known = {(f.alias or name).upper() for name, f in Settings.model_fields.items()}
    for name in bots:
        env = services[name]["environment"]
        assert set(env) - {"TZ"} <= known, set(env) - known
        assert env["GRIDBOT_DB_URL"].startswith("postgresql+asyncpg://")
        assert "/healthz" in " ".join(services[name]["healthcheck"]["test"])
        assert services[name]["depends_on"]["db"]["condition"] == "service_healthy"
