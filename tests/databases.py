"""Test databases: one fresh PostgreSQL database and one SQLite file per test run (per xdist
worker), each migrated once with `alembic upgrade head` — the same path production takes."""

from __future__ import annotations

import asyncio
import os
from functools import cache
from pathlib import Path

import asyncpg

PG_ADMIN_URL = os.environ.get("LOYALTY_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def asyncpg_dsn(url: str) -> str:
    """The URL as asyncpg's own connect() takes it."""
    return url.replace("postgresql+asyncpg://", "postgresql://")


@cache
def postgres_unreachable_reason() -> str | None:
    async def probe() -> None:
        connection = await asyncpg.connect(asyncpg_dsn(PG_ADMIN_URL), timeout=3)
        await connection.close()

    try:
        asyncio.run(probe())
    except Exception as exc:  # any failure to connect means "skip" outside CI
        return f"{PG_ADMIN_URL} unreachable ({type(exc).__name__}: {exc})"
    return None


def _database_name() -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"loyalty_test_{worker}_{os.getpid()}"


def create_postgres_database() -> str:
    name = _database_name()

    async def create() -> None:
        connection = await asyncpg.connect(asyncpg_dsn(PG_ADMIN_URL))
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()

    asyncio.run(create())
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{name}"


def drop_postgres_database(url: str) -> None:
    name = url.rpartition("/")[2]

    async def drop() -> None:
        connection = await asyncpg.connect(asyncpg_dsn(PG_ADMIN_URL))
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()

    asyncio.run(drop())


def sqlite_database(directory: Path) -> str:
    return f"sqlite:///{directory / 'loyalty-test.db'}"
