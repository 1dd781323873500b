"""Migrations on fresh databases: upgrade → downgrade base (nothing left) → upgrade again, and the
migrated schema is exactly the models' (alembic's own comparison finds nothing)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from loyalty import migrate
from loyalty.db import create_engine
from loyalty.models import Base
from tests import databases


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A throwaway PostgreSQL database (plain postgresql:// URL), dropped afterwards."""
    reason = databases.postgres_unreachable_reason()
    if reason:
        pytest.skip(reason)
    name = f"loyalty_throwaway_{uuid.uuid4().hex[:12]}"
    admin_dsn = databases.PG_ADMIN_URL

    async def run(statement: str) -> None:
        connection = await asyncpg.connect(admin_dsn)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{admin_dsn.rpartition('/')[0]}/{name}"
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["postgresql", "sqlite"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
    else:
        with fresh_postgres_database() as url:
            yield url


def inspect_schema(url: str, reader: Any) -> Any:
    async def run() -> Any:
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(reader)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def table_names(url: str) -> set[str]:
    return set(inspect_schema(url, lambda connection: inspect(connection).get_table_names()))


def schema_differences(url: str) -> list[Any]:
    def compare(connection: Any) -> list[Any]:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": False})
        return compare_metadata(context, Base.metadata)

    return inspect_schema(url, compare)


def test_upgrade_downgrade_upgrade(fresh_url):
    migrate.upgrade(fresh_url)
    assert table_names(fresh_url) == set(Base.metadata.tables) | {"alembic_version"}

    migrate.downgrade(fresh_url, "base")
    assert table_names(fresh_url) <= {"alembic_version"}

    migrate.upgrade(fresh_url)
    assert table_names(fresh_url) == set(Base.metadata.tables) | {"alembic_version"}
    assert schema_differences(fresh_url) == []


def test_the_migrated_schema_matches_the_models(fresh_url):
    migrate.upgrade(fresh_url)
    assert schema_differences(fresh_url) == []


def _unique_columns(connection: Any, table: str) -> set[tuple[str, ...]]:
    inspector = inspect(connection)
    found = {tuple(c["column_names"]) for c in inspector.get_unique_constraints(table)}
    found |= {tuple(i["column_names"]) for i in inspector.get_indexes(table) if i["unique"]}
    return found


def _indexed_columns(connection: Any, table: str) -> set[tuple[str, ...]]:
    return {tuple(i["column_names"]) for i in inspect(connection).get_indexes(table)} | _unique_columns(
        connection, table
    )


def test_lookups_are_indexed(fresh_url):
    migrate.upgrade(fresh_url)

    def read(connection: Any) -> tuple[set[tuple[str, ...]], set[tuple[str, ...]]]:
        return _unique_columns(connection, "loyalty_cards"), _indexed_columns(connection, "loyalty_transactions")

    card_unique, ledger_indexed = inspect_schema(fresh_url, read)
    assert {("card_number",), ("qr_code",), ("card_token",)} <= card_unique
    assert ("card_id", "transaction_at") in ledger_indexed
    assert ("voids_transaction_id",) in inspect_schema(fresh_url, lambda c: _unique_columns(c, "loyalty_transactions"))


def test_the_append_only_trigger_comes_and_goes_with_the_schema():
    with fresh_postgres_database() as url:

        def triggers(connection: Any) -> list[str]:
            rows = connection.execute(
                text(
                    "SELECT tgname FROM pg_trigger"
                    " WHERE tgrelid = 'loyalty_transactions'::regclass AND NOT tgisinternal"
                )
            )
            return [row[0] for row in rows]

        def function_exists(connection: Any) -> bool:
            query = "SELECT count(*) FROM pg_proc WHERE proname = 'loyalty_transactions_reject_change'"
            return connection.execute(text(query)).scalar_one() == 1

        migrate.upgrade(url)
        assert inspect_schema(url, triggers) == ["loyalty_transactions_append_only"]
        migrate.downgrade(url, "base")
        assert not inspect_schema(url, function_exists)
        migrate.upgrade(url)
        assert inspect_schema(url, function_exists)


def test_a_sqlite_upgrade_twice_is_a_no_op(tmp_path):
    url = f"sqlite:///{tmp_path / 'twice.db'}"
    migrate.upgrade(url)
    migrate.upgrade(url)
    assert schema_differences(url) == []
