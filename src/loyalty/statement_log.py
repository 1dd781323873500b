"""The statement log, a measuring aid: `LOYALTY_STATEMENT_LOG=/path` (read by `db.create_engine`, not a
Setting, off by default) appends every statement the engine executes, with its parameters, as one
JSON line. The benchmark (`bench/`, docs/performance.md) turns the lines of one stamp into the
pgbench script of its SQL ceiling. It writes parameters by design: never set it in production.
"""

from __future__ import annotations

import json
import os
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

STATEMENT_LOG_ENV = "LOYALTY_STATEMENT_LOG"

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
    """Statements sent straight to the driver (services.compiled_queries.CompiledQuery) bypass SQLAlchemy's events:
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
