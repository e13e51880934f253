"""Alembic, driven from code so `gridbot db upgrade` needs no alembic.ini on disk."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from storage.db import db_path, sync_url

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", sync_url(url))
    return cfg


def _ensure_dir(url: str) -> None:
    path = db_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)


def upgrade(url: str, revision: str = "heads") -> None:
    """Apply every branch: capabilities add their migrations side by side on one
    parent (0006_events and 0006_deadlines both follow 0005), so there may be
    several heads and "head" would refuse."""
    _ensure_dir(url)
    command.upgrade(alembic_config(url), revision)


def head_revisions() -> tuple[str, ...]:
    return tuple(sorted(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()))


def current_revisions(url: str) -> tuple[str, ...]:
    _ensure_dir(url)
    engine = create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            return tuple(sorted(MigrationContext.configure(conn).get_current_heads()))
    finally:
        engine.dispose()


def _label(revisions: tuple[str, ...]) -> str | None:
    return ",".join(revisions) or None


def head_revision() -> str | None:
    """The head(s) of the migration scripts, comma-separated when there are several."""
    return _label(head_revisions())


def current_revision(url: str) -> str | None:
    """The revision(s) the database is at, in the same form as ``head_revision``."""
    return _label(current_revisions(url))


def is_up_to_date(url: str) -> bool:
    return current_revisions(url) == head_revisions()
