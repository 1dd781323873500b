"""Every use of SQLAlchemy beyond what its documentation promises, in one place.

Two kinds of use live here, each with what it relies on and why the documented way is not used:

- private API: an ORM instance made from a row without the ORM's loading machinery (`loaded`);
- documented API whose behaviour we rely on beyond what is promised: the asyncpg connection under a
  pooled connection, driven directly (`asyncpg_connection`, `pooled_asyncpg_connection`,
  `return_to_pool`), and SQL compiled by SQLAlchemy but sent straight to asyncpg (`driver_statement`).

`tests/test_sqlalchemy_internals.py` checks each of them against the installed SQLAlchemy and fails
naming the function and the version when an upgrade changes what it relies on. `pyproject.toml` pins
SQLAlchemy to the minor release they were checked on (`>=2.1.9,<2.2`, `requirements.lock` the exact
version): move the bound only once that test passes on the new release.

Uses given up for the documented API (measured, and the cost accepted):
- a card's changed attributes and the moves of its totals (`services/ledger.py`) read
  `InstanceState.unmodified` and `AttributeState.history`, no longer `InstanceState.committed_state`
  and `sqlalchemy.orm.base.NO_VALUE`: 18 µs instead of 7 µs per balance change, about 1 % of a
  stamp's ~1 ms of worker CPU (docs/performance.md);
- a statement's positional parameters come from `SQLCompiler.construct_expanded_state()` (its
  `ExpandedState`), no longer from the compiler's `positiontup`, and the types' bind processors from
  `SQLCompiler.binds` and `TypeEngine.bind_processor`: once per statement, nothing per request. The
  fast path now applies them (the UTC columns' conversion), as SQLAlchemy's own execution does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Insert, Select, Update, inspect
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

M = TypeVar("M")


def loaded(model: type[M], row: Mapping[str, Any]) -> M:
    """An instance of `model` whose committed (as-loaded) state is `row`, outside any session: later
    changes to it are tracked as history (what `ledger.append` writes), with no identity map and no
    unit of work involved.

    Relies on (private): `Mapper.class_manager.new_instance()` makes an instance and its
    `InstanceState` without running `__init__`; and for such a new state, a value put straight into
    `InstanceState.dict` is read as the attribute's committed value (no entry in the state's
    committed changes), exactly what `set_committed_value` records key by key.
    Why not the public API: `model()` then `sqlalchemy.orm.attributes.set_committed_value` per column
    costs 56 µs for a card's 19 columns against 6 µs, and a stamp builds three such instances (the
    caller's programme, the locked card, the new ledger entry): ~150 µs, 15 % of a stamp's CPU.
    Guarded by `test_loaded_builds_an_instance_whose_row_is_its_committed_state`."""
    instance: M = inspect(model).class_manager.new_instance()
    inspect(instance).dict.update(row)
    return instance


def asyncpg_connection(connection: AsyncConnection) -> Any:
    """The asyncpg connection under a checked-out SQLAlchemy connection (`db.Unit` drives its
    transactions on it).

    Relies on: `AsyncConnection.sync_connection.connection.driver_connection` (each step documented)
    is asyncpg's own `Connection`; under an engine in AUTOCOMMIT, SQLAlchemy's adapter never issues
    BEGIN, COMMIT or ROLLBACK itself, so a transaction begun on this connection carries every statement
    SQLAlchemy executes on it until the unit commits or rolls it back (db.py's docstring says why:
    ~110 µs per request saved against the session's own transaction). Asked once per unit: once the
    connection is invalidated, `Connection.connection` raises instead of answering.
    Guarded by `test_a_transaction_begun_on_asyncpg_carries_what_sqlalchemy_executes`."""
    sync_connection = connection.sync_connection
    assert sync_connection is not None, "a checked-out connection has a sync connection"
    return sync_connection.connection.driver_connection


def pooled_asyncpg_connection(dbapi_connection: Any) -> Any:
    """The asyncpg connection of the DBAPI connection a pool event receives (`checkout`): asyncpg
    notices a socket the server closed while the connection idled, at no round trip.

    Relies on: the asyncpg dialect's DBAPI connection is an `AdaptedConnection` whose
    `driver_connection` is asyncpg's `Connection` (documented) with `is_closed()` (asyncpg's API).
    Guarded by `test_the_checkout_event_sees_the_asyncpg_connection`."""
    return dbapi_connection.driver_connection


def return_to_pool(connection: AsyncConnection) -> None:
    """Checks a connection back in synchronously, with no I/O, so that no cancellation can stop it
    half-way (`db.Unit.give_back`).

    Relies on: under AUTOCOMMIT the pool's reset-on-return has no transaction to roll back, so
    `Connection.close()` sends nothing to the server; an awaited round trip here would fail outside
    SQLAlchemy's greenlet and the pool would discard the connection instead of keeping it.
    Guarded by `test_returning_a_connection_to_the_pool_does_no_io`."""
    sync_connection = connection.sync_connection
    if sync_connection is not None:
        sync_connection.close()


@dataclass(frozen=True)
class DriverStatement:
    """A statement as asyncpg runs it: its SQL (`$1`, `$2` … placeholders), the names of its
    parameters in placeholder order, the values the statement binds itself (literals such as the 1 of
    `entries + 1`), and the bind processors of the parameters whose type converts values."""

    sql: str
    names: tuple[str, ...]
    constants: Mapping[str, Any]
    processors: Mapping[str, Callable[[Any], Any]]

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        """The positional arguments for `params` (the statement's own values where `params` has none),
        each through its type's bind processor, as SQLAlchemy's execution would."""
        processors, constants = self.processors, self.constants
        values = [params[name] if name in params else constants[name] for name in self.names]
        if processors:
            for index, name in enumerate(self.names):
                if name in processors and values[index] is not None:
                    values[index] = processors[name](values[index])
        return values


def driver_statement(statement: Select[Any] | Insert | Update, dialect: Dialect) -> DriverStatement:
    """`statement` compiled once by `dialect` (asyncpg's) for `CompiledQuery` to run on asyncpg itself.

    Relies on: the asyncpg dialect compiles to asyncpg's own placeholder syntax (`$1`, paramstyle
    `numeric_dollar`); `SQLCompiler.construct_expanded_state()` (documented since 2.0) names the
    placeholders' order and `SQLCompiler.binds` (documented) the parameters, whose types' bind
    processors (`TypeEngine.bind_processor`, public) are applied as SQLAlchemy's execution would; and
    asyncpg decodes what SQLAlchemy's result processing would otherwise
    convert (JSON to Python values through the codec the dialect registers on every new connection,
    timestamptz to aware datetimes), since rows fetched on the driver skip SQLAlchemy's result
    processors. Guarded by `test_a_driver_statement_is_asyncpg_sql_with_its_parameters_in_order` and
    `test_asyncpg_decodes_json_as_sqlalchemy_registered_it`."""
    compiled = statement.compile(dialect=dialect)
    unbound = {name: None for name, value in compiled.params.items() if value is None}
    expanded = compiled.construct_expanded_state(unbound)
    processors = {}
    for name, bind in compiled.binds.items():
        if (process := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None:
            processors[name] = process
    return DriverStatement(expanded.statement, tuple(expanded.positiontup or ()), dict(expanded.parameters), processors)
