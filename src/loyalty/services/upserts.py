"""Where PostgreSQL and SQLite differ: upserts, built with each dialect's own INSERT … ON CONFLICT."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, func, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from loyalty.db import is_postgres


def insert_ignoring_conflict(session: AsyncSession, table: Table, values: dict[str, Any]) -> Any:
    """INSERT … ON CONFLICT DO NOTHING of `values` (column name → value) into `table`, for the
    session's dialect: the first writer wins, a concurrent second one waits on the unique index and
    skips. The statement's result has `rowcount` 1 when this insert won, 0 when a row was there."""
    dialect = postgresql if is_postgres(session) else sqlite
    return dialect.insert(table).values(**values).on_conflict_do_nothing()


def upsert_increment(session: AsyncSession, table: Table, key: dict[str, Any], column: str) -> Any:
    """INSERT the row `key` (its unique columns → values) with `column` = 1, or add 1 to `column` of
    the existing row; the statement returns the new value of `column` (RETURNING)."""
    dialect = postgresql if is_postgres(session) else sqlite
    statement = dialect.insert(table).values(**key, **{column: 1})
    return statement.on_conflict_do_update(index_elements=list(key), set_={column: table.c[column] + 1}).returning(
        table.c[column]
    )


def upsert_into_partial_index(
    session: AsyncSession,
    table: Table,
    values: dict[str, Any],
    *,
    index_columns: list[str],
    index_predicate: str,
    earliest: str,
    latest: str,
) -> Any:
    """INSERT `values`, or, when a row of the partial unique index `index_columns` WHERE `index_predicate`
    (its own SQL text, which PostgreSQL needs to infer the index) exists, UPDATE that row: column
    `earliest` keeps the smaller of its value and the new one, column `latest` takes the new one."""
    postgres = is_postgres(session)
    statement = (postgresql if postgres else sqlite).insert(table).values(**values)
    smaller = func.least if postgres else func.min  # SQLite's min() of two values is its LEAST
    return statement.on_conflict_do_update(
        index_elements=index_columns,
        index_where=text(index_predicate),
        set_={
            earliest: smaller(table.c[earliest], statement.excluded[earliest]),
            latest: statement.excluded[latest],
        },
    )
