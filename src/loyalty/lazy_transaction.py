"""A unit of work's PostgreSQL transaction whose BEGIN waits for its first statement, and the statements
sent alone, outside any transaction block (`db.py` owns the units; this is their transaction's state).

Each round trip to PostgreSQL costs the worker ~85 µs of CPU on the reference machine
(docs/performance.md): a unit that sends nothing sends no BEGIN or COMMIT, and a no-PIN stamp, one statement
that is its unit's whole write, is sent alone (`services.compiled_queries.CompiledQuery.first`'s `alone`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg

R = TypeVar("R")

log = logging.getLogger("loyalty.db")


class StatementAfterAlone(RuntimeError):
    """A statement was sent in a unit of work after one that ran alone (a programming error): that one
    committed by itself, so nothing after it could be atomic with it."""


class LazyTransaction:
    """A unit of work's PostgreSQL transaction, whose BEGIN is sent just before its first statement: from
    the ORM (SQLAlchemy's `before_cursor_execute` event, `_begin_before_orm_statements`) or from
    `CompiledQuery`. A unit that sends nothing sends neither BEGIN nor COMMIT.

    States: `pending` (nothing sent), `begun` (BEGIN sent), `alone` (one statement ran outside any
    transaction block and wrote: the unit's work is done, and any further statement raises
    StatementAfterAlone), `ended` (committed or rolled back)."""

    def __init__(self, driver: Any, on_begin: Callable[[bool], None]) -> None:
        self._transaction = driver.transaction()
        self._on_begin = on_begin  # tells the unit whether its connection is inside a transaction
        self.state = "pending"

    async def begin(self) -> None:
        """Sends BEGIN if it has not been sent. Raises StatementAfterAlone after a statement ran alone."""
        if self.state == "begun":
            return
        if self.state != "pending":
            raise StatementAfterAlone(f"no statement may follow one that ran alone (state {self.state})")
        self.state = "begun"
        self._on_begin(True)
        await self._transaction.start()

    async def alone(self, statement: Callable[[], Awaitable[R]]) -> R:
        """Runs `statement` outside any transaction block when nothing has been sent yet, else in the
        transaction. For a statement that is the unit's whole write when it returns a row (not None) and
        writes nothing when it returns None: after a row, the unit's work is done (nothing may follow);
        after None, or an error PostgreSQL refused it with, the unit goes on as if it had not run."""
        if self.state != "pending":
            await self.begin()
            return await statement()
        self.state = "sending alone"
        self._on_begin(True)  # until it answers: a cancellation leaves the connection's state unknown
        try:
            result = await statement()
        except asyncpg.PostgresError:
            self.state = "pending"
            self._on_begin(False)
            raise
        self.state = "pending" if result is None else "alone"
        self._on_begin(False)
        return result

    async def commit(self) -> None:
        if self.state == "begun":
            await self._transaction.commit()
        self.state = "ended"

    async def rollback(self) -> None:
        if self.state == "alone":  # committed by itself: the request failed after it, and it stands
            log.warning("a unit of work failed after its statement sent alone had committed")
        if self.state == "begun":
            await self._transaction.rollback()
        self.state = "ended"
