"""Alembic, driven from code: `loyalty db upgrade` and the test suite use the same entry point."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from loyalty.db import async_url


def default_script_location() -> Path:
    """The service's migrations: `migrations/` in a checkout, `loyalty/_migrations` in a built wheel."""
    packaged = Path(__file__).parent / "_migrations"  # inside a built wheel
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(database_url: str, *, script_location: str | Path | None = None) -> Config:
    """`script_location` replaces the service's migrations directory (the tests use one of their own)."""
    async_url(database_url)  # fail early, in one line, on a URL we cannot use
    config = Config()
    config.set_main_option("script_location", str(script_location or default_script_location()))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)
