"""Alembic environment: runs migrations over asyncpg (PostgreSQL) or aiosqlite (SQLite).

On PostgreSQL a whole `upgrade` (or `downgrade`) is ONE transaction, however many revisions it
crosses: PostgreSQL's DDL is transactional, so a migration that fails half-way leaves the schema and
`alembic_version` exactly as they were. That needs a connection that is not in AUTOCOMMIT, hence not
the service's engine (`loyalty.db.create_engine` makes it AUTOCOMMIT because the unit of work issues
BEGIN itself): under AUTOCOMMIT every DDL statement would commit on its own. (A statement that
PostgreSQL refuses inside a transaction, such as CREATE INDEX CONCURRENTLY, goes in
`op.get_context().autocommit_block()`, which commits what came before it.)
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from loyalty.config import get_settings
from loyalty.db import async_url, create_engine
from loyalty.models import Base

target_metadata = Base.metadata


def _database_url() -> str:
    return context.config.get_main_option("sqlalchemy.url") or get_settings().database_url


def _migration_engine(url: str) -> AsyncEngine:
    driver_url = async_url(url)
    if driver_url.startswith("sqlite"):
        # The service's SQLite engine: foreign keys on, WAL, and BEGIN IMMEDIATE for each transaction.
        return create_engine(url)
    # A plain engine, in SQLAlchemy's default transactional mode (no AUTOCOMMIT): the one transaction
    # that `context.begin_transaction()` opens below holds every statement of the upgrade. One
    # connection, used once: no pool to keep.
    return create_async_engine(driver_url, poolclass=pool.NullPool)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
        # False (Alembic's default, spelled out because atomicity depends on it): with transactional
        # DDL (PostgreSQL), `begin_transaction()` opens one transaction for the whole run, so an
        # upgrade across several revisions that fails in the last one undoes the earlier ones too and
        # leaves the database at its old revision, never at some revision in between that no release
        # was deployed against. (SQLite has no transactional DDL in Alembic's eyes: Alembic commits
        # after each revision there, as it always has.)
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    engine = _migration_engine(_database_url())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("Offline (--sql) migrations are not supported; run `loyalty db upgrade`.")
asyncio.run(_run_online())
