"""Engine, sessions and the unit of work.

One unit of work per operation (`Database.unit`): it holds one pooled connection from start to end,
its transaction commits once on success and rolls back on any error. Work that must survive that
rollback runs in a transaction of its own on the same connection: before the unit's transaction
begins (`Unit.apart`: an enrolment attempt counted even when the enrolment then fails), or once the
rollback is done (`after_rollback`: a failed PIN's count). A unit never waits for a second connection
while it holds one, and a unit opened inside another raises `NestedUnitOfWork`: with a pool of N,
N requests each holding one connection and waiting for a second would wait forever.

Waits are bounded: a unit that cannot get a connection within `pool_timeout`, or that finds the
database unreachable or loses its connection, raises `errors.DatabaseUnavailable` (503 with
Retry-After), and the next unit connects afresh, so the service recovers by itself.

On PostgreSQL the unit of work owns its transaction: it checks a connection out of the pool, issues
BEGIN on the asyncpg connection itself and commits there, and the ORM session is bound to that
connection. SQLAlchemy's engine runs in AUTOCOMMIT mode, so it neither begins nor commits anything
itself: every statement, from the ORM or straight from the driver (`CompiledQuery`), lands in
the one transaction. Measured on the stamp path, the session's own transaction handling (its
SessionTransaction, checkout and commit, each behind a greenlet crossing) cost about 110 µs a
request, more than the three statements of a stamp together; the session now only flushes, and
only when a service used the ORM.

BEGIN waits for the transaction's first statement (`lazy_transaction.LazyTransaction`), and a unit whose whole write is
one statement may send it alone, without BEGIN or COMMIT (`CompiledQuery.first(..., alone=True)`): a
statement outside a transaction block is atomic by itself. Each round trip to PostgreSQL costs the
worker ~85 µs of CPU on the reference machine (docs/performance.md), so a stamp sent alone saves two
of its four.

SQLite has no row locks, so every SQLite transaction starts with `BEGIN IMMEDIATE`: writers are
serialised, which is the closest safe equivalent of PostgreSQL's `SELECT ... FOR UPDATE`.

`LOYALTY_STATEMENT_LOG=/path` records every statement, for the benchmark (`statement_log.py`).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from loyalty.errors import DatabaseUnavailable
from loyalty.lazy_transaction import LazyTransaction
from loyalty.sqlalchemy_internals import asyncpg_connection, pooled_asyncpg_connection, return_to_pool
from loyalty.statement_log import STATEMENT_LOG_ENV, record_statements

if TYPE_CHECKING:
    from loyalty.config import Settings

T = TypeVar("T")

AfterRollback = Callable[[AsyncSession], Awaitable[None]]
_AFTER_ROLLBACK = "loyalty.after_rollback"
# session.info key of the asyncpg connection under a PostgreSQL unit of work (see `driver_connection`).
_DRIVER = "loyalty.driver_connection"
# session.info and Connection.info key of the unit's transaction whose BEGIN is still to be sent.
_LAZY = "loyalty.lazy_transaction"
# Connection.info key: the unit's transaction wrote one of the tables `Database.watch_commits` watches.
_WATCHED_WRITE = "loyalty.watched_write"


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


def create_engine(
    url: str, *, pool_size: int = 8, max_overflow: int = 0, pool_timeout: float = 5, echo: bool = False
) -> AsyncEngine:
    """The service's engine. `pool_timeout` (seconds) bounds every wait for the database: for a free
    pooled connection, for a new connection, and on SQLite for the write lock. Statement parameters
    (PIN hashes, key hashes, e-mails) never reach a log or an error message: `hide_parameters`."""
    url = async_url(url)
    if url.startswith("sqlite"):
        engine = create_async_engine(url, echo=echo, pool_timeout=pool_timeout, hide_parameters=True)
        _serialise_sqlite_writes(engine, busy_timeout_ms=int(pool_timeout * 1000))
    else:
        # No pool_pre_ping: it costs a round trip per request. A connection closed while it idled is
        # replaced at checkout (`_discard_closed_connections`), one that dies mid-request fails that
        # request alone with a 503. AUTOCOMMIT: the unit of work begins and commits the transaction
        # itself (see the module's docstring).
        engine = create_async_engine(
            url,
            echo=echo,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=pool_timeout,
            pool_recycle=3600,
            isolation_level="AUTOCOMMIT",
            hide_parameters=True,
            connect_args={"timeout": pool_timeout},
        )
        _discard_closed_connections(engine)
        _begin_before_orm_statements(engine)
    if log_path := os.environ.get(STATEMENT_LOG_ENV):
        record_statements(engine, log_path)
    return engine


def _begin_before_orm_statements(engine: AsyncEngine) -> None:
    """A statement SQLAlchemy executes in a unit whose BEGIN is still pending sends BEGIN first.

    Relies on documented API: the `before_cursor_execute` event runs inside SQLAlchemy's greenlet, where
    `AdaptedConnection.run_async` awaits a coroutine on the driver connection (SQLAlchemy's asyncio
    docs, "Using awaitable-only driver methods in connection pool and other events")."""

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _begin_if_pending(conn: Any, _cursor: Any, _statement: str, _params: Any, _context: Any, _many: bool) -> None:
        lazy: LazyTransaction | None = conn.info.get(_LAZY)
        if lazy is not None and lazy.state != "begun":
            conn.connection.dbapi_connection.run_async(lambda _driver: lazy.begin())


def _mark_watched_writes(engine: AsyncEngine, tables: set[str]) -> None:
    """Marks the connection whose statement writes one of `tables` (`Database.watch_commits`)."""

    @event.listens_for(engine.sync_engine, "after_cursor_execute")
    def _mark(conn: Any, _cursor: Any, _statement: str, _params: Any, context: Any, _many: bool) -> None:
        if not (context.isinsert or context.isupdate or context.isdelete) or context.compiled is None:
            return
        table = getattr(context.compiled.statement, "table", None)
        if getattr(table, "name", None) in tables:
            conn.info[_WATCHED_WRITE] = True


def _serialise_sqlite_writes(engine: AsyncEngine, *, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        # The wait for another writer's lock is bounded like the wait for a pooled connection.
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def is_postgres(session_or_engine: AsyncSession | AsyncEngine) -> bool:
    bind = session_or_engine.bind if isinstance(session_or_engine, AsyncSession) else session_or_engine
    return bind is not None and bind.dialect.name == "postgresql"


def after_rollback(session: AsyncSession, work: AfterRollback) -> None:
    """Run `work` in a transaction of its own, on the same connection, if the current transaction rolls back."""
    session.info.setdefault(_AFTER_ROLLBACK, []).append(work)


def driver_connection(session: AsyncSession) -> Any:
    """The asyncpg connection whose transaction `session` works in, or None (SQLite, or a session
    that is not a PostgreSQL unit of work's). Before using it, `await lazy_transaction(session).begin()`
    when there is one (`CompiledQuery` does)."""
    return session.info.get(_DRIVER)


def lazy_transaction(session: AsyncSession) -> LazyTransaction | None:
    """The PostgreSQL unit of work's transaction `session` works in, or None (SQLite, or `Unit.read`)."""
    return session.info.get(_LAZY)


class NestedUnitOfWork(RuntimeError):
    """A unit of work was opened inside another one (a programming error, raised everywhere).

    The outer unit holds a pooled connection while the inner one waits for a second: once every
    connection of the pool is held by an outer unit, no inner one ever gets one and every request
    waits (issue: 60 concurrent enrolments, all 500 after 30 s). Work that must outlive the outer
    transaction goes through `Unit.apart` or `after_rollback`, on the unit's own connection."""


# Whether this task is inside a unit of work. A ContextVar, so that concurrent requests (tasks) do not
# see each other's units, while a task started inside a unit inherits the flag and cannot open another.
_IN_UNIT: ContextVar[bool] = ContextVar("loyalty_in_unit_of_work", default=False)


class Database:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessionmaker = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
        self._on_watched_commit: list[Callable[[], None]] = []

    @classmethod
    def from_url(cls, url: str, **options: Any) -> Database:
        return cls(create_engine(url, **options))

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        """The database of `settings`, with the pool, the bounded wait and echo it configures."""
        return cls.from_url(
            settings.database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout_seconds,
            echo=settings.db_echo,
        )

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[Unit]:
        """One unit of work: one pooled connection, held until the block ends, for one operation.

        The wait for the connection is bounded (`pool_timeout`); past it, or when the database cannot
        be reached, raises `DatabaseUnavailable` (503). Raises `NestedUnitOfWork` inside another unit.
        The unit's transaction begins with `Unit.begin` and commits when the block ends without an
        error (rolls back otherwise); `Unit.apart` commits work of its own before that.
        """
        if _IN_UNIT.get():
            raise NestedUnitOfWork("a unit of work cannot be opened inside another (see db.NestedUnitOfWork)")
        token = _IN_UNIT.set(True)
        try:
            if is_postgres(self.engine):
                connection = await _check_out(self.engine)
                unit = Unit(self, connection)
                try:
                    async with unit.lifetime():
                        yield unit
                finally:
                    unit.give_back()
            else:
                unit = Unit(self, None)
                async with unit.lifetime():
                    yield unit
        finally:
            _IN_UNIT.reset(token)

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """A unit whose transaction begins at once: the session, committed when the block ends."""
        async with self.unit() as unit:
            yield await unit.begin()

    def listen_args(self) -> dict[str, Any] | None:
        """PostgreSQL: `asyncpg.connect`'s arguments for a connection of its own, outside the pool (one
        that LISTENs, `api/key_holders.py`), from the engine's URL (`Dialect.create_connect_args`, less the
        options only SQLAlchemy's dialect reads, such as `prepared_statement_cache_size`). None on SQLite."""
        if not is_postgres(self.engine):
            return None
        _, arguments = self.engine.dialect.create_connect_args(self.engine.url)
        accepted = inspect.signature(asyncpg.connect).parameters
        return {name: value for name, value in arguments.items() if name in accepted}

    def watch_commits(self, tables: tuple[str, ...], callback: Callable[[], None]) -> None:
        """PostgreSQL: `callback()` runs in this process right after a unit's transaction that wrote
        (INSERT, UPDATE, DELETE through SQLAlchemy) any of `tables` commits, before its answer is sent:
        what this process cached from those tables is then stale (`api/key_holders.py`)."""
        if not is_postgres(self.engine):
            return
        if not self._on_watched_commit:
            _mark_watched_writes(self.engine, set(tables))
        self._on_watched_commit.append(callback)

    def watched_tables_committed(self) -> None:
        for callback in self._on_watched_commit:
            callback()

    async def dispose(self) -> None:
        await self.engine.dispose()


class Unit:
    """A unit of work's connection and its transactions; see `Database.unit`.

    On PostgreSQL every transaction of the unit runs on the one connection it checked out, so a unit
    never holds one connection while waiting for another. On SQLite the session takes a connection
    at its first statement and gives it back at commit or rollback (one at a time there too).
    """

    def __init__(self, database: Database, connection: AsyncConnection | None) -> None:
        self._database = database
        self._connection = connection
        # The asyncpg connection under it: asked once, as SQLAlchemy's wrapper refuses once invalidated.
        self._driver: Any = asyncpg_connection(connection) if connection else None
        self._main: AbstractAsyncContextManager[AsyncSession] | None = None
        self._session: AsyncSession | None = None
        self._in_transaction = False  # a transaction has begun on the connection and not yet ended

    async def begin(self) -> AsyncSession:
        """Begin the unit's transaction (once; later calls return the same session)."""
        if self._session is None:
            main = self._transaction()
            self._session = await main.__aenter__()
            self._main = main  # only once begun: `lifetime` ends what has begun
        return self._session

    async def apart(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run `work` in a transaction of its own, committed before this returns, so that it counts even
        when the unit's transaction then rolls back (an enrolment attempt that ends in 409). Only
        before `begin`: the one connection carries one transaction at a time."""
        if self._session is not None:
            raise RuntimeError("Unit.apart must run before the unit's transaction begins")
        async with self._transaction() as session:
            return await work(session)

    def give_back(self) -> None:
        """The connection back to the pool, with no I/O, so that no cancellation can stop it half-way.
        A connection whose transaction did not end cleanly is terminated first (the pool replaces a
        closed connection at its next checkout, `_discard_closed_connections`)."""
        assert self._connection is not None
        if self._in_transaction and not self._driver.is_closed():
            self._driver.terminate()
        # No I/O: the engine is in AUTOCOMMIT, so the pool's reset has no transaction to roll back, and
        # an invalidated connection has nothing to reset (sqlalchemy_internals.return_to_pool).
        return_to_pool(self._connection)

    async def read(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run a read before the unit's transaction begins, outside any transaction on PostgreSQL (each
        statement sees what is committed when it runs: the caller's key, say), so that no transaction is
        open while the request may still be refused. On SQLite, a transaction of its own."""
        if self._session is not None:
            raise RuntimeError("Unit.read must run before the unit's transaction begins")
        if self._connection is None:
            return await self.apart(work)
        session = self._database.sessionmaker(bind=self._connection, info={_DRIVER: self._driver})
        try:
            return await work(session)
        except BaseException as exc:
            if reason := _unavailable_reason(exc, self._driver):
                self._driver.terminate()
                raise DatabaseUnavailable(reason) from exc
            raise
        finally:
            session.sync_session.close()

    @asynccontextmanager
    async def lifetime(self) -> AsyncIterator[None]:
        """Ends the unit's transaction with the block: commit on success, rollback on any error."""
        try:
            yield
        except BaseException as exc:
            if self._main is not None:
                await self._main.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        else:
            if self._main is not None:
                await self._main.__aexit__(None, None, None)

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncSession]:
        """One transaction: commits when the block ends, rolls back on any error and then runs the
        `after_rollback` work, each in a transaction of its own on the same connection."""
        session, commit, roll_back = await self._open_transaction()
        try:
            yield session
            await commit()
            self._in_transaction = False
        except BaseException as exc:
            pending: list[AfterRollback] = session.info.pop(_AFTER_ROLLBACK, [])
            reason = _unavailable_reason(exc, self._driver)  # before the rollback, which may close it
            rolled_back = await roll_back()
            if reason:
                raise DatabaseUnavailable(reason) from exc
            if rolled_back:
                for work in pending:
                    async with self._transaction() as own:
                        await work(own)
            raise
        finally:
            session.sync_session.close()  # no I/O: committed or rolled back already

    async def _open_transaction(
        self,
    ) -> tuple[AsyncSession, Callable[[], Awaitable[None]], Callable[[], Awaitable[bool]]]:
        """A new session in a new transaction, with the coroutines that commit and roll it back."""
        if self._connection is None:
            return self._open_sqlite_transaction()
        connection, driver = self._connection, self._driver
        # Until COMMIT or ROLLBACK has completed, the connection's state is not known: `give_back`
        # terminates a connection whose transaction did not end (a cancellation during BEGIN, say),
        # since the pool would otherwise hand out a connection inside an open transaction.
        lazy = LazyTransaction(driver, self._mark_in_transaction)
        session = self._database.sessionmaker(bind=connection, info={_DRIVER: driver, _LAZY: lazy})
        sync_connection = connection.sync_connection
        assert sync_connection is not None, "a checked-out connection has a sync connection"
        # For the ORM's statements (`_begin_before_orm_statements`). The dict itself is kept: once the
        # connection is invalidated, `Connection.info` raises instead of answering.
        connection_info = sync_connection.info
        connection_info[_LAZY] = lazy

        def forget_lazy() -> None:  # only its own: an invalidated record may serve another unit by now
            if connection_info.get(_LAZY) is lazy:
                del connection_info[_LAZY]

        async def commit() -> None:
            try:
                if has_orm_work(session):
                    await session.flush()
                await lazy.commit()
            finally:
                forget_lazy()
            self._in_transaction = False
            if connection_info.pop(_WATCHED_WRITE, False):
                self._database.watched_tables_committed()

        async def roll_back() -> bool:
            forget_lazy()
            connection_info.pop(_WATCHED_WRITE, None)
            try:
                await lazy.rollback()
            except Exception:
                driver.terminate()  # a connection that cannot roll back must not serve again
                return False
            self._in_transaction = False
            return True

        return session, commit, roll_back

    def _mark_in_transaction(self, inside: bool) -> None:
        self._in_transaction = inside

    def _open_sqlite_transaction(
        self,
    ) -> tuple[AsyncSession, Callable[[], Awaitable[None]], Callable[[], Awaitable[bool]]]:
        session = self._database.sessionmaker()

        async def roll_back() -> bool:
            await session.rollback()
            await session.close()
            return True

        return session, session.commit, roll_back


async def _check_out(engine: AsyncEngine) -> AsyncConnection:
    """A pooled connection, within the pool's bounded wait, or `DatabaseUnavailable`."""
    try:
        return await engine.connect()
    except PoolTimeout as exc:
        raise DatabaseUnavailable(DatabaseUnavailable.BUSY) from exc
    except (OSError, TimeoutError, DBAPIError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise DatabaseUnavailable(DatabaseUnavailable.UNREACHABLE, _cause(exc)) from exc


def _cause(exc: BaseException) -> str:
    """`InvalidPasswordError SQLSTATE 28P01`: what went wrong, without the message's text."""
    error = getattr(exc, "orig", None) or exc
    error = getattr(error, "__cause__", None) or error  # SQLAlchemy's adapter wraps asyncpg's error
    sqlstate = getattr(error, "sqlstate", None)
    return f"{type(error).__name__} SQLSTATE {sqlstate}" if sqlstate else type(error).__name__


# PostgreSQL's SQLSTATEs of a connection that is gone or going: class 08 (connection exception),
# 57P01-57P03 (terminated by an administrator, crash shutdown, cannot connect now), 53300 (too many
# connections). https://www.postgresql.org/docs/15/errcodes-appendix.html
_LOST_SQLSTATES = ("57P01", "57P02", "57P03", "53300")


def _unavailable_reason(exc: BaseException, driver: Any) -> str | None:
    """Why `exc` means the database is unavailable rather than a fault of the request or of our code
    (a `DatabaseUnavailable` reason), or None. A cancellation is never one: it goes on as itself. On
    SQLite the session takes its connection at its first statement, so the pool's bounded wait and
    the write lock's both end up here."""
    if not isinstance(exc, Exception):
        return None
    if isinstance(exc, PoolTimeout):
        return DatabaseUnavailable.BUSY
    if isinstance(exc, OperationalError) and "database is locked" in str(exc.orig):  # SQLite's busy_timeout
        return DatabaseUnavailable.BUSY
    if _connection_lost(exc, driver):
        return DatabaseUnavailable.LOST
    return None


def _connection_lost(exc: BaseException, driver: Any) -> bool:
    """Whether `exc` means the database connection is gone (the database restarted, a backend was
    terminated, the network dropped)."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    for error in (exc, getattr(exc, "orig", None), exc.__cause__):
        sqlstate = getattr(error, "sqlstate", None)
        if isinstance(sqlstate, str) and (sqlstate.startswith("08") or sqlstate in _LOST_SQLSTATES):
            return True
        if isinstance(error, asyncpg.ConnectionDoesNotExistError | ConnectionError):
            return True
    return driver is not None and bool(driver.is_closed())


def _discard_closed_connections(engine: AsyncEngine) -> None:
    """A pooled connection whose server side is gone (a restarted database, a terminated backend) is
    replaced at checkout, at no cost: asyncpg notices the closed socket while the connection idles in
    the pool. Raising DisconnectionError here makes the pool connect afresh, as SQLAlchemy documents
    for pessimistic disconnect handling, without pre-ping's round trip on every request."""

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        if pooled_asyncpg_connection(dbapi_connection).is_closed():
            raise DisconnectionError("the pooled connection was closed by the server")


def has_orm_work(session: AsyncSession) -> bool:
    """Whether the ORM holds changes to flush (a unit of work that only read, or wrote through
    `services.compiled_queries.CompiledQuery`, has none, and skips the flush's greenlet crossing)."""
    sync = session.sync_session
    return bool(sync.new or sync.deleted or sync.dirty)
