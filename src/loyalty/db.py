"""Engine, sessions and the unit of work.

One unit of work per operation: it commits once on success and rolls back on any error. Work that
must survive a rollback (counting a failed PIN attempt that fails the very request) is registered
with `after_rollback` and runs in a transaction of its own once the rollback is done.

On PostgreSQL the unit of work owns its transaction: it checks a connection out of the pool, issues
BEGIN on the asyncpg connection itself and commits there, and the ORM session is bound to that
connection. SQLAlchemy's engine runs in AUTOCOMMIT mode, so it neither begins nor commits anything
itself: every statement, from the ORM or straight from the driver (`services.sql.Query`), lands in
the one transaction. Measured on the stamp path, the session's own transaction handling (its
SessionTransaction, checkout and commit, each behind a greenlet crossing) cost about 110 µs a
request, more than the three statements of a stamp together; the session now only flushes, and
only when a service used the ORM.

SQLite has no row locks, so every SQLite transaction starts with `BEGIN IMMEDIATE`: writers are
serialised, which is the closest safe equivalent of PostgreSQL's `SELECT ... FOR UPDATE`.

`LOYALTY_STATEMENT_LOG=/path` (read here, not a Setting: it is a measuring aid, off by default)
appends every statement the engine executes, with its parameters, as one JSON line; the benchmark
(`bench/`, docs/performance.md) turns the lines of one stamp into the pgbench script of its SQL ceiling.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

AfterRollback = Callable[[AsyncSession], Awaitable[None]]
_AFTER_ROLLBACK = "loyalty.after_rollback"
# session.info key of the asyncpg connection under a PostgreSQL unit of work (see `driver_connection`).
_DRIVER = "loyalty.driver_connection"

STATEMENT_LOG_ENV = "LOYALTY_STATEMENT_LOG"

_ASYNC_DRIVERS = {
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
}


class DatabaseUrlError(ValueError):
    pass


def async_url(url: str) -> str:
    """`postgresql://u@h/db` → `postgresql+asyncpg://u@h/db`, `sqlite:///x` → `sqlite+aiosqlite:///x`."""
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise DatabaseUrlError(f"LOYALTY_DATABASE_URL is not a database URL: {url!r}") from exc
    backend = parsed.get_backend_name()
    if backend not in _ASYNC_DRIVERS:
        raise DatabaseUrlError(f"LOYALTY_DATABASE_URL must be postgresql://... or sqlite:///...; got {backend!r}")
    return parsed.set(drivername=_ASYNC_DRIVERS[backend]).render_as_string(hide_password=False)


def create_engine(url: str, *, pool_size: int = 8, max_overflow: int = 0, echo: bool = False) -> AsyncEngine:
    url = async_url(url)
    if url.startswith("sqlite"):
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})
        _serialise_sqlite_writes(engine)
    else:
        # No pool_pre_ping: it costs a round trip per request. Connections are recycled hourly instead,
        # and a connection that dies mid-request fails that request alone. AUTOCOMMIT: the unit of work
        # begins and commits the transaction itself (see the module's docstring).
        engine = create_async_engine(
            url,
            echo=echo,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_recycle=3600,
            isolation_level="AUTOCOMMIT",
        )
    if log_path := os.environ.get(STATEMENT_LOG_ENV):
        record_statements(engine, log_path)
    return engine


_STATEMENT_LOGS: WeakKeyDictionary[Any, str] = WeakKeyDictionary()


def record_statements(engine: AsyncEngine, path: str) -> None:
    """Append each statement `engine` executes, and its parameters, to `path` as one JSON line:
    {"pid", "statement", "parameters", "executemany"}. One write per line, so worker processes
    sharing the file do not interleave lines."""

    _STATEMENT_LOGS[engine.sync_engine] = path

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, executemany: bool) -> None:
        _append_statement(path, statement, parameters, executemany)


def log_driver_statement(bind: Any, statement: str, parameters: Any) -> None:
    """Statements sent straight to the driver (services.sql.Query) bypass SQLAlchemy's events:
    they are logged here, so the statement log still holds everything the service sends."""
    engine = getattr(bind, "sync_engine", bind)
    path = _STATEMENT_LOGS.get(engine)
    if path is not None:
        _append_statement(path, statement, parameters, False)


def _append_statement(path: str, statement: str, parameters: Any, executemany: bool) -> None:
    line = json.dumps(
        {"pid": os.getpid(), "statement": statement, "parameters": parameters, "executemany": executemany},
        default=_json_value,
    )
    with open(path, "a", encoding="utf-8") as log:
        log.write(line + "\n")


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    return str(value)


def _serialise_sqlite_writes(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def is_postgres(session_or_engine: AsyncSession | AsyncEngine) -> bool:
    bind = session_or_engine.bind if isinstance(session_or_engine, AsyncSession) else session_or_engine
    return bind is not None and bind.dialect.name == "postgresql"


def after_rollback(session: AsyncSession, work: AfterRollback) -> None:
    """Run `work` in its own transaction if the current unit of work rolls back."""
    session.info.setdefault(_AFTER_ROLLBACK, []).append(work)


def driver_connection(session: AsyncSession) -> Any:
    """The asyncpg connection whose transaction `session` works in, or None (SQLite, or a session
    that is not a PostgreSQL unit of work's)."""
    return session.info.get(_DRIVER)


class Database:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessionmaker = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> Database:
        return cls(create_engine(url, **options))

    def unit_of_work(self) -> AbstractAsyncContextManager[AsyncSession]:
        if is_postgres(self.engine):
            return self._postgres_unit_of_work()
        return self._session_unit_of_work()

    @asynccontextmanager
    async def _postgres_unit_of_work(self) -> AsyncIterator[AsyncSession]:
        pending: list[AfterRollback] = []
        try:
            connection = await self.engine.connect()
            try:
                driver: Any = connection.sync_connection.connection.driver_connection  # type: ignore[union-attr]
                transaction = driver.transaction()
                await transaction.start()
                session = self.sessionmaker(bind=connection, info={_DRIVER: driver})
                try:
                    yield session
                    if _has_orm_work(session):
                        await session.flush()
                    await transaction.commit()
                except BaseException:
                    pending = session.info.pop(_AFTER_ROLLBACK, [])
                    await _roll_back(transaction, connection)
                    raise
                finally:
                    session.sync_session.close()  # no I/O: the session does not own the connection
            finally:
                await _give_back(connection)
        except BaseException:
            # Only now, with this unit's connection back in the pool: work that needs a connection of its
            # own while holding one could wait forever once every request holds one.
            await self._after_rollback(pending)
            raise

    async def _after_rollback(self, pending: list[AfterRollback]) -> None:
        for work in pending:
            async with self.unit_of_work() as own:
                await work(own)

    @asynccontextmanager
    async def _session_unit_of_work(self) -> AsyncIterator[AsyncSession]:
        session = self.sessionmaker()
        try:
            yield session
            await session.commit()
        except BaseException:
            pending = session.info.pop(_AFTER_ROLLBACK, [])
            await session.rollback()
            await session.close()
            await self._after_rollback(pending)
            raise
        else:
            # The commit gave the connection back to the pool, so closing does no I/O (no greenlet crossing).
            session.sync_session.close()

    async def dispose(self) -> None:
        await self.engine.dispose()


async def _roll_back(transaction: Any, connection: AsyncConnection) -> None:
    try:
        await transaction.rollback()
    except Exception:
        await connection.invalidate()  # a connection that cannot roll back must not serve again


async def _give_back(connection: AsyncConnection) -> None:
    sync_connection = connection.sync_connection
    if sync_connection is None or sync_connection.invalidated:
        await connection.close()
    else:
        # The transaction is over, so checking the connection back in does no I/O: the synchronous
        # close spares a greenlet crossing, which costs more under a request's deep stack.
        sync_connection.close()


def _has_orm_work(session: AsyncSession) -> bool:
    """Whether the ORM holds changes to flush (a unit of work that only read, or wrote through
    `services.sql.Query`, has none, and skips the flush's greenlet crossing)."""
    sync = session.sync_session
    return bool(sync.new or sync.deleted or sync.dirty)
