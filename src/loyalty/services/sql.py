"""The few statements whose SQL differs between PostgreSQL and SQLite, behind one function each."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def insert_ignoring_conflict(session: AsyncSession, table: Table, values: dict[str, Any]) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING: the first writer wins, a concurrent second one waits and skips."""
    dialect = postgresql if session.bind is not None and session.bind.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).values(**values).on_conflict_do_nothing()


def upsert_increment(session: AsyncSession, table: Table, key: dict[str, Any], column: str) -> Any:
    """INSERT the key with `column` = 1, or add 1 to the existing row; RETURNING the new value."""
    dialect = postgresql if session.bind is not None and session.bind.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(**key, **{column: 1})
    return statement.on_conflict_do_update(index_elements=list(key), set_={column: table.c[column] + 1}).returning(
        table.c[column]
    )
