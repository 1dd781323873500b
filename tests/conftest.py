"""Shared fixtures.

- `database_url`: parametrised over PostgreSQL and SQLite, so every test using it runs on both.
  `pg_database_url` is PostgreSQL only (row locks, the append-only trigger, concurrency).
- Each backend is created and migrated once per run; tables are emptied before each test.
- `clock` is a FixedClock every service and the app read, so tests can stand at any instant.
- `settings` uses bcrypt cost 4: tests check behaviour, not the cost of hashing.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from loyalty import migrate
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.db import Database, is_postgres
from tests import databases

START = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)  # a Saturday, 10:00 in Luxembourg


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def _postgres_url() -> Iterator[str]:
    reason = databases.postgres_unreachable_reason()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI=true: {reason}")
        pytest.skip(f"PostgreSQL tests skipped: {reason}")
    url = databases.create_postgres_database()
    migrate.upgrade(url)
    yield url
    databases.drop_postgres_database(url)


@pytest.fixture(scope="session")
def _sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = databases.sqlite_database(Path(tmp_path_factory.mktemp("sqlite")))
    migrate.upgrade(url)
    return url


@pytest.fixture(params=["postgresql", "sqlite"])
def database_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue("_postgres_url" if request.param == "postgresql" else "_sqlite_url")  # type: ignore[no-any-return]


@pytest.fixture
def pg_database_url(_postgres_url: str) -> str:
    return _postgres_url


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return test_settings(database_url)


def test_settings(database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "bcrypt_rounds": 4,
        "secret_key": "test-secret-key-0123456789",
    }  # the pool is production's (Settings' defaults): a second checkout must fail here, not in an outage
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


test_settings.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


async def empty_tables(database: Database) -> None:
    async with database.engine.begin() as connection:
        if is_postgres(database.engine):
            await connection.execute(text(f"TRUNCATE {', '.join(databases.TABLES)} RESTART IDENTITY CASCADE"))
        else:
            for table in databases.TABLES:
                await connection.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    db = Database.from_settings(settings)
    await empty_tables(db)
    yield db
    await db.dispose()
