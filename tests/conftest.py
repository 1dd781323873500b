"""Shared fixtures.

- `database_url`: parametrised over PostgreSQL and SQLite, so every test using it runs on both.
  `pg_database_url` is PostgreSQL only (row locks, the append-only trigger, concurrency).
- Each backend is created and migrated once per run; tables are emptied before each test.
- `clock` is a FixedClock every service and the app read, so tests can stand at any instant.
- `settings` uses bcrypt cost 4: tests check behaviour, not the cost of hashing.
- Every test's log, at production's level (INFO) and including tracebacks, is scanned for secrets
  (`_no_secret_in_the_log`): a test whose log holds one fails, whatever it asserted itself.
"""

from __future__ import annotations

import logging
import os
import re
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


# What a secret looks like in this service; none may ever be written to a log (docs/operations.md).
SECRET_PATTERNS = {
    "API key": re.compile(r"lyk_(?:live|admin)_[A-Za-z0-9_\-]{20,}"),
    "bcrypt hash": re.compile(r"\$2[aby]\$\d\d\$"),
    "SHA-256 (key hash, PIN fingerprint)": re.compile(r"\b[0-9a-f]{64}\b"),
    "e-mail address": re.compile(r"[A-Za-z0-9._%+\-]+@example\.(?:com|org|net)"),
    # card tokens and QR payloads: 32 URL-safe characters, not a request id's lowercase hex
    "card token or QR code": re.compile(
        r"(?<![A-Za-z0-9_\-])(?![0-9a-f]{32}(?![A-Za-z0-9_\-]))[A-Za-z0-9_\-]{32}(?![A-Za-z0-9_\-])"
    ),
}


class _LogScanner(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.leaks: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("httpx"):
            return  # the test's own HTTP client, not the service
        text = self.format(record)
        self.leaks += [f"{kind} in: {text[:300]}" for kind, pattern in SECRET_PATTERNS.items() if pattern.search(text)]


@pytest.fixture(autouse=True)
def _no_secret_in_the_log() -> Iterator[None]:
    root = logging.getLogger()
    scanner, level = _LogScanner(), root.level
    root.addHandler(scanner)
    root.setLevel(min(level, logging.INFO))
    try:
        yield
    finally:
        root.removeHandler(scanner)
        root.setLevel(level)
    assert scanner.leaks == [], "secrets reached the log:\n" + "\n".join(scanner.leaks)


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
