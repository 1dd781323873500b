"""Migrations on fresh databases: upgrade → downgrade base (nothing left) → upgrade again, and the
migrated schema is exactly the models' (alembic's own comparison finds nothing). On PostgreSQL an
upgrade is one transaction: a revision that fails half-way leaves nothing of the whole run behind."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import DBAPIError

from loyalty import migrate
from loyalty.db import create_engine
from loyalty.models import Base
from tests import databases

T = TypeVar("T")


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A throwaway PostgreSQL database (plain postgresql:// URL), dropped afterwards."""
    reason = databases.postgres_unreachable_reason()
    if reason and os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required under CI=true: {reason}")
    if reason:
        pytest.skip(f"PostgreSQL tests skipped: {reason}")
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


def inspect_schema(url: str, reader: Callable[[Connection], T]) -> T:
    async def run() -> T:
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
    def compare(connection: Connection) -> list[Any]:
        dialect = connection.dialect.name

        def on_this_dialect(item: Any, name: Any, type_: Any, reflected: Any, compare_to: Any) -> bool:
            """An index the models create on one dialect only (`info={"only_on": ...}` beside `ddl_if`)
            is compared there only."""
            only_on = getattr(item, "info", {}).get("only_on")
            return only_on is None or only_on == dialect

        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "compare_server_default": False, "include_object": on_this_dialect},
        )
        differences: list[Any] = compare_metadata(context, Base.metadata)
        return differences

    return inspect_schema(url, compare)


def test_upgrade_downgrade_upgrade(fresh_url: str) -> None:
    migrate.upgrade(fresh_url)
    assert table_names(fresh_url) == set(Base.metadata.tables) | {"alembic_version"}

    migrate.downgrade(fresh_url, "base")
    assert table_names(fresh_url) <= {"alembic_version"}

    migrate.upgrade(fresh_url)
    assert table_names(fresh_url) == set(Base.metadata.tables) | {"alembic_version"}
    assert schema_differences(fresh_url) == []


def test_keys_made_before_scopes_keep_every_right_they_had(fresh_url: str) -> None:
    """0002 gives admin keys the `admin` scope and vendor keys `owner`, the scope of the whole vendor API."""
    migrate.upgrade(fresh_url, "0001")

    def seed(connection: Connection) -> None:
        connection.execute(
            text(
                "INSERT INTO vendors (id, name, slug, timezone, default_locale, created_at)"
                " VALUES (1, 'Old shop', 'old-shop', 'Europe/Luxembourg', 'en', CURRENT_TIMESTAMP)"
            )
        )
        for key_id, vendor_id in ((1, None), (2, 1)):
            connection.execute(
                text(
                    "INSERT INTO api_keys (id, vendor_id, name, key_prefix, key_hash, created_at)"
                    " VALUES (:id, :vendor_id, 'old', 'lyk_', :hash, CURRENT_TIMESTAMP)"
                ),
                {"id": key_id, "vendor_id": vendor_id, "hash": f"{key_id:064x}"},
            )
        connection.commit()

    inspect_schema(fresh_url, seed)
    migrate.upgrade(fresh_url)

    scopes = inspect_schema(
        fresh_url, lambda connection: connection.execute(text("SELECT id, scope FROM api_keys ORDER BY id")).all()
    )
    assert [tuple(row) for row in scopes] == [(1, "admin"), (2, "owner")]


def old_shop(connection: Connection, program_type: str, rewards: str) -> None:
    """Vendor 1 and its programme 1, written as an older revision's schema takes them (no services)."""
    connection.execute(
        text(
            "INSERT INTO vendors (id, name, slug, timezone, default_locale, created_at)"
            " VALUES (1, 'Old shop', 'old-shop', 'Europe/Luxembourg', 'en', CURRENT_TIMESTAMP)"
        )
    )
    connection.execute(
        text(
            "INSERT INTO loyalty_programs (id, vendor_id, program_type, name, stamps_target, points_per_euro,"
            " points_rewards, cooldown_minutes, max_daily_stamps, require_staff_pin, is_active, created_at,"
            " updated_at) VALUES (1, 1, :type, 'Old', 10, 1, :rewards, 15, 5, true, true,"
            " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        ),
        {"type": program_type, "rewards": rewards},
    )


def test_a_catalogue_made_before_0004_never_gives_its_ids_again(fresh_url: str) -> None:
    migrate.upgrade(fresh_url, "0003")

    def seed(connection: Connection) -> None:
        old_shop(connection, "points", '[{"id": 1, "name": "Tea"}, {"id": 5, "name": "Cake"}]')
        connection.commit()

    inspect_schema(fresh_url, seed)
    migrate.upgrade(fresh_url)

    last = inspect_schema(fresh_url, lambda c: c.execute(text("SELECT last_reward_id FROM loyalty_programs")).scalar())
    assert last == 5


def test_the_migrated_schema_matches_the_models(fresh_url: str) -> None:
    migrate.upgrade(fresh_url)
    assert schema_differences(fresh_url) == []


def _unique_columns(connection: Connection, table: str) -> set[tuple[str | None, ...]]:
    inspector = inspect(connection)
    found: set[tuple[str | None, ...]] = {tuple(c["column_names"]) for c in inspector.get_unique_constraints(table)}
    found |= {tuple(i["column_names"]) for i in inspector.get_indexes(table) if i["unique"]}
    return found


def _indexed_columns(connection: Connection, table: str) -> set[tuple[str | None, ...]]:
    return {tuple(i["column_names"]) for i in inspect(connection).get_indexes(table)} | _unique_columns(
        connection, table
    )


def test_lookups_are_indexed(fresh_url: str) -> None:
    migrate.upgrade(fresh_url)

    def read(connection: Connection) -> tuple[set[tuple[str | None, ...]], set[tuple[str | None, ...]]]:
        return _unique_columns(connection, "loyalty_cards"), _indexed_columns(connection, "loyalty_transactions")

    card_unique, ledger_indexed = inspect_schema(fresh_url, read)
    assert {("card_number",), ("qr_code",), ("card_token",)} <= card_unique
    assert ("card_id", "transaction_at") in ledger_indexed
    assert ("voids_transaction_id",) in inspect_schema(fresh_url, lambda c: _unique_columns(c, "loyalty_transactions"))


def test_the_append_only_trigger_comes_and_goes_with_the_schema() -> None:
    with fresh_postgres_database() as url:

        def triggers(connection: Connection) -> list[str]:
            rows = connection.execute(
                text(
                    "SELECT tgname FROM pg_trigger"
                    " WHERE tgrelid = 'loyalty_transactions'::regclass AND NOT tgisinternal"
                )
            )
            return [row[0] for row in rows]

        def function_exists(connection: Connection) -> bool:
            query = "SELECT count(*) FROM pg_proc WHERE proname = 'loyalty_transactions_reject_change'"
            return bool(connection.execute(text(query)).scalar_one() == 1)

        migrate.upgrade(url)
        assert inspect_schema(url, triggers) == ["loyalty_transactions_append_only"]
        migrate.downgrade(url, "base")
        assert not inspect_schema(url, function_exists)
        migrate.upgrade(url)
        assert inspect_schema(url, function_exists)


def test_a_sqlite_upgrade_twice_is_a_no_op(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'twice.db'}"
    migrate.upgrade(url)
    migrate.upgrade(url)
    assert schema_differences(url) == []


# --- atomicity (PostgreSQL) ----------------------------------------------------------------------

FAILING_REVISION = """\"\"\"Fails half-way: creates a table, adds a column, then divides by zero.\"\"\"

import sqlalchemy as sa
from alembic import op

revision = "9999_fails"
down_revision = {down_revision!r}
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("half_migrated", sa.Column("id", sa.Integer(), primary_key=True))
    op.add_column("vendors", sa.Column("half_migrated_note", sa.Text(), nullable=True))
    op.execute("SELECT 1/0")


def downgrade() -> None:
    raise NotImplementedError
"""


@pytest.fixture
def failing_scripts(tmp_path: Path) -> Path:
    """A copy of the service's migrations (its env.py, template and every revision) plus one last
    revision that fails after some DDL."""
    real = migrate.default_script_location()
    scripts = tmp_path / "migrations"
    (scripts / "versions").mkdir(parents=True)
    shutil.copy(real / "env.py", scripts / "env.py")
    shutil.copy(real / "script.py.mako", scripts / "script.py.mako")
    for version in (real / "versions").glob("*.py"):
        shutil.copy(version, scripts / "versions" / version.name)
    real_head = ScriptDirectory(str(real)).get_current_head()
    (scripts / "versions" / "9999_fails.py").write_text(FAILING_REVISION.format(down_revision=real_head))
    return scripts


def upgrade_through_failing_revision(url: str, scripts: Path) -> None:
    with pytest.raises(DBAPIError, match="division by zero"):
        command.upgrade(migrate.alembic_config(url, script_location=scripts), "head")


def schema_snapshot(url: str) -> dict[str, Any]:
    """Every table and column of the public schema (with its type and nullability), the functions the
    migrations create, and the revisions recorded in alembic_version (if that table exists)."""

    def read(connection: Connection) -> dict[str, Any]:
        columns = connection.execute(
            text(
                "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns"
                " WHERE table_schema = 'public' ORDER BY table_name, column_name"
            )
        ).all()
        functions = connection.execute(
            text(
                "SELECT proname FROM pg_proc JOIN pg_namespace ON pg_namespace.oid = pronamespace"
                " WHERE nspname = 'public' ORDER BY proname"
            )
        ).all()
        tables = set(inspect(connection).get_table_names())
        versions = (
            sorted(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())
            if "alembic_version" in tables
            else None
        )
        return {
            "tables": tables,
            "columns": [tuple(row) for row in columns],
            "functions": [row[0] for row in functions],
            "alembic_version": versions,
        }

    return inspect_schema(url, read)


@pytest.mark.postgres
def test_a_failing_revision_leaves_a_migrated_database_as_it_was(failing_scripts: Path) -> None:
    with fresh_postgres_database() as url:
        migrate.upgrade(url)
        before = schema_snapshot(url)
        real_head = ScriptDirectory(str(migrate.default_script_location())).get_current_head()
        assert before["alembic_version"] == [real_head]
        assert "vendors" in before["tables"]

        upgrade_through_failing_revision(url, failing_scripts)

        after = schema_snapshot(url)
        assert "half_migrated" not in after["tables"]
        assert ("vendors", "half_migrated_note") not in {(table, column) for table, column, *_ in after["columns"]}
        assert after == before


@pytest.mark.postgres
def test_a_failing_upgrade_of_an_empty_database_leaves_no_table_at_all(failing_scripts: Path) -> None:
    """From an empty database through every real revision to the failing one: one transaction, so the
    real revisions that succeeded are undone too, and not even alembic_version is left."""
    with fresh_postgres_database() as url:
        upgrade_through_failing_revision(url, failing_scripts)

        assert schema_snapshot(url) == {"tables": set(), "columns": [], "functions": [], "alembic_version": None}


def test_cards_made_before_0008_get_a_random_pass_serial_and_token(fresh_url: str) -> None:
    migrate.upgrade(fresh_url, "0007")

    def seed(connection: Connection) -> None:
        old_shop(connection, "stamps", "[]")
        for n in (1, 2, 3):
            connection.execute(
                text(
                    "INSERT INTO customers (id, vendor_id, email, email_normalised, marketing_consent, created_at)"
                    f" VALUES ({n}, 1, 'c{n}@shop.test', 'c{n}@shop.test', false, CURRENT_TIMESTAMP)"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO loyalty_cards (id, vendor_id, program_id, customer_id, card_number, qr_code,"
                    " card_token, stamp_count, total_stamps_earned, stamps_redeemed, points_balance,"
                    " total_points_earned, total_points_redeemed, is_active, enrolled_at, updated_at)"
                    f" VALUES ({n}, 1, 1, {n}, 'number{n}', 'qr{n}', 'token{n}', 0, 0, 0, 0, 0, 0, true,"
                    " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                )
            )
        connection.commit()

    inspect_schema(fresh_url, seed)
    migrate.upgrade(fresh_url)

    rows = inspect_schema(
        fresh_url,
        lambda c: c.execute(text("SELECT pass_serial_number, pass_authentication_token FROM loyalty_cards")).all(),
    )
    serials = {row[0] for row in rows}
    assert len(rows) == 3 and len(serials) == 3
    assert all(len(serial) == 32 and len(token) >= 32 for serial, token in rows)
