"""The unit of work's rules (db.Database.unit), on PostgreSQL and SQLite: one unit never opens inside
another, work apart and after-rollback work commit on their own, waits for the database are bounded."""

from __future__ import annotations

import asyncio
from typing import cast

import asyncpg
import pytest
from sqlalchemy import Table, func, literal, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from loyalty.db import Database, NestedUnitOfWork, after_rollback
from loyalty.errors import DatabaseUnavailable
from loyalty.lazy_transaction import StatementAfterAlone
from loyalty.models import RateLimitBucket
from loyalty.services.compiled_queries import CompiledQuery
from tests.databases import asyncpg_dsn
from tests.fixtures import START, empty_tables, test_settings

pytestmark = pytest.mark.anyio


class Refused(Exception):
    """What a request fails with after its work apart or its after-rollback work was registered."""


async def _buckets(database: Database) -> list[str]:
    async with database.unit_of_work() as session:
        return list(await session.scalars(select(RateLimitBucket.bucket).order_by(RateLimitBucket.bucket)))


def _add_bucket(name: str) -> RateLimitBucket:
    return RateLimitBucket(bucket=name, window_start=START, hits=1)


async def test_a_unit_of_work_opened_inside_another_raises(database: Database) -> None:
    async with database.unit_of_work():
        with pytest.raises(NestedUnitOfWork):
            async with database.unit_of_work():
                pass
    async with database.unit_of_work():  # the first one's end lets the next one open
        pass


async def test_work_apart_is_committed_although_the_unit_then_rolls_back(database: Database) -> None:
    async def count_attempt(session: AsyncSession) -> None:
        session.add(_add_bucket("attempt"))

    with pytest.raises(Refused):
        async with database.unit() as unit:
            await unit.apart(count_attempt)
            session = await unit.begin()
            session.add(_add_bucket("enrolment"))
            raise Refused()

    assert await _buckets(database) == ["attempt"]


async def test_work_apart_after_the_transaction_began_is_refused(database: Database) -> None:
    async def nothing(_: AsyncSession) -> None:
        return None

    async with database.unit() as unit:
        await unit.begin()
        with pytest.raises(RuntimeError, match="before the unit's transaction begins"):
            await unit.apart(nothing)


async def test_after_rollback_work_is_committed_once_the_unit_rolled_back(database: Database) -> None:
    async def record_failure(session: AsyncSession) -> None:
        session.add(_add_bucket("failed-pin"))

    with pytest.raises(Refused):
        async with database.unit_of_work() as session:
            session.add(_add_bucket("stamp"))
            after_rollback(session, record_failure)
            raise Refused()

    assert await _buckets(database) == ["failed-pin"]


@pytest.mark.postgres
async def test_every_transaction_of_a_unit_runs_on_its_one_connection(pg_database_url: str) -> None:
    """Apart, main and after-rollback work share the backend: a pool of one is enough for all three."""
    database = Database.from_settings(test_settings(pg_database_url, db_pool_size=1, db_pool_timeout_seconds=1))
    backends: list[int] = []

    async def note_backend(session: AsyncSession) -> None:
        backends.append(await session.scalar(text("SELECT pg_backend_pid()")))

    try:
        with pytest.raises(Refused):
            async with database.unit() as unit:
                await unit.apart(note_backend)
                session = await unit.begin()
                await note_backend(session)
                after_rollback(session, note_backend)
                raise Refused()
    finally:
        await database.dispose()

    assert len(backends) == 3 and len(set(backends)) == 1


@pytest.mark.postgres
async def test_a_unit_that_waits_past_the_bounded_wait_is_unavailable(pg_database_url: str) -> None:
    database = Database.from_settings(test_settings(pg_database_url, db_pool_size=1, db_pool_timeout_seconds=0.3))
    try:
        async with database.engine.connect():  # someone else holds the only connection
            with pytest.raises(DatabaseUnavailable) as refused:
                async with database.unit_of_work():
                    pass
    finally:
        await database.dispose()
    assert refused.value.reason == DatabaseUnavailable.BUSY
    assert refused.value.status_code == 503 and refused.value.retry_after_seconds == 1


async def test_a_sqlite_writer_waits_for_the_lock_no_longer_than_the_bounded_wait(_sqlite_url: str) -> None:
    """SQLite serialises writers on its file lock (BEGIN IMMEDIATE); that wait is bounded too."""
    holder = Database.from_settings(test_settings(_sqlite_url))
    waiter = Database.from_settings(test_settings(_sqlite_url, db_pool_timeout_seconds=0.3))
    locked, release = asyncio.Event(), asyncio.Event()

    async def hold_the_write_lock() -> None:
        async with holder.unit_of_work() as session:
            await session.execute(select(func.count()).select_from(RateLimitBucket))  # BEGIN IMMEDIATE
            locked.set()
            await release.wait()

    holding = asyncio.create_task(hold_the_write_lock())  # a task of its own: a unit inside a unit raises
    try:
        await locked.wait()
        with pytest.raises(DatabaseUnavailable) as refused:
            async with waiter.unit_of_work() as session:
                await session.execute(select(func.count()).select_from(RateLimitBucket))
    finally:
        release.set()
        await holding
        await holder.dispose()
        await waiter.dispose()
    assert refused.value.reason == DatabaseUnavailable.BUSY


async def test_an_unreachable_database_is_unavailable_at_once() -> None:
    database = Database.from_settings(test_settings("postgresql://postgres@127.0.0.1:1/nowhere"))
    try:
        with pytest.raises(DatabaseUnavailable) as refused:
            async with database.unit_of_work():
                pass
    finally:
        await database.dispose()
    assert refused.value.reason == DatabaseUnavailable.UNREACHABLE
    assert refused.value.retry_after_seconds == 5


@pytest.mark.postgres
async def test_a_unit_cancelled_during_begin_leaves_no_open_transaction_behind(
    pg_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found in review: a cancellation (a client dropping a CSV export, a server's stop) landing while
    BEGIN was in flight gave the connection back inside a transaction; the next unit on it answered
    as committed what only a savepoint held. The connection must be replaced instead."""
    database = Database.from_settings(test_settings(pg_database_url, db_pool_size=1, db_pool_timeout_seconds=2))
    reader = Database.from_settings(test_settings(pg_database_url))
    await empty_tables(reader)
    real_execute = asyncpg.Connection.execute

    async def cancelled_during_begin(self: asyncpg.Connection, query: str, *args: object, **kwargs: object) -> str:
        if query.startswith("BEGIN"):
            asyncio.get_running_loop().call_soon(asyncio.current_task().cancel)  # type: ignore[union-attr]
        status: str = await real_execute(self, query, *args, **kwargs)
        return status

    async def cancelled_request() -> None:
        async with database.unit() as unit:
            monkeypatch.setattr(asyncpg.Connection, "execute", cancelled_during_begin)
            try:
                session = await unit.begin()
                await session.execute(select(1))  # BEGIN is sent with the transaction's first statement
            finally:
                monkeypatch.setattr(asyncpg.Connection, "execute", real_execute)

    try:
        with pytest.raises(asyncio.CancelledError):
            await asyncio.create_task(cancelled_request())
        async with database.unit_of_work() as session:  # the pool's only connection, next in line
            session.add(_add_bucket("committed"))
        assert await _buckets(reader) == ["committed"]  # seen from another connection: really committed
    finally:
        await database.dispose()
        await reader.dispose()


@pytest.mark.postgres
async def test_a_unit_cancelled_during_a_statement_sent_alone_gives_its_connection_up(
    pg_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A statement sent alone and cancelled while the server still runs it: no transaction is open on the
    connection (asyncpg cancels the statement on the server), so the next unit on the pool's only
    connection works and commits."""
    database = Database.from_settings(test_settings(pg_database_url, db_pool_size=1, db_pool_timeout_seconds=2))
    await empty_tables(database)
    slow = CompiledQuery(select(literal(1).label("one"), func.pg_sleep(0.5)))  # answers after half a second

    async def cancelled_request() -> None:
        async with database.unit() as unit:
            session = await unit.begin()
            asyncio.get_running_loop().call_later(0.2, asyncio.current_task().cancel)  # type: ignore[union-attr]
            await slow.first(session, {}, alone=True)  # the server is still running it when the task is cancelled

    try:
        with pytest.raises(asyncio.CancelledError):
            await asyncio.create_task(cancelled_request())
        async with database.unit_of_work() as session:  # the pool's only connection, next in line
            session.add(_add_bucket("next"))
        assert "next" in await _buckets(database)
    finally:
        await database.dispose()


def _insert_bucket(name: str) -> CompiledQuery:
    """A statement that writes one row and returns it, or writes nothing and returns no row when the
    bucket exists: the shape `CompiledQuery.first(..., alone=True)` is for."""
    buckets = cast(Table, RateLimitBucket.__table__)
    return CompiledQuery(
        postgresql.insert(buckets)
        .values(bucket=name, window_start=START, hits=1)
        .on_conflict_do_nothing()
        .returning(buckets.c.bucket)
    )


@pytest.mark.postgres
async def test_a_statement_sent_alone_commits_by_itself_and_nothing_may_follow_it(pg_database_url: str) -> None:
    """`alone` (the no-PIN stamp's one statement): sent before anything else in its unit, it runs outside any
    transaction block, so it is committed before the unit ends and nothing written after it could be atomic
    with it; writing nothing, or sent after another statement, it changes nothing to the unit's transaction."""
    database = Database.from_settings(test_settings(pg_database_url))
    await empty_tables(database)
    observer = await asyncpg.connect(asyncpg_dsn(pg_database_url))

    async def committed() -> list[str]:
        return [row["bucket"] for row in await observer.fetch("SELECT bucket FROM rate_limit_buckets ORDER BY 1")]

    try:
        with pytest.raises(StatementAfterAlone):
            async with database.unit() as unit:
                session = await unit.begin()
                assert await _insert_bucket("alone").first(session, {}, alone=True) is not None
                assert await committed() == ["alone"]  # committed by itself, before its unit ends
                session.add(_add_bucket("after"))
                await session.flush()
        assert await committed() == ["alone"]

        with pytest.raises(Refused):  # alone but writing nothing (the row exists): the unit goes on as usual
            async with database.unit() as unit:
                session = await unit.begin()
                assert await _insert_bucket("alone").first(session, {}, alone=True) is None
                session.add(_add_bucket("rolled back"))
                await session.flush()
                raise Refused()
        with pytest.raises(Refused):  # after another statement: inside the transaction, rolled back with it
            async with database.unit() as unit:
                session = await unit.begin()
                await session.execute(select(1))
                assert await _insert_bucket("inside").first(session, {}, alone=True) is not None
                raise Refused()
        with pytest.raises(Refused):  # with ORM changes still to flush: inside the transaction too
            async with database.unit() as unit:
                session = await unit.begin()
                session.add(_add_bucket("held by the ORM"))
                assert await _insert_bucket("with them").first(session, {}, alone=True) is not None
                raise Refused()
        assert await committed() == ["alone"]
    finally:
        await observer.close()
        await database.dispose()
