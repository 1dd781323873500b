"""What src/loyalty/sqlalchemy_internals.py relies on, checked against the installed SQLAlchemy.

Each test names the function it guards; a failure says which function, what it relied on and which
SQLAlchemy version broke it, so an upgrade fails here, loudly, rather than as a wrong balance or a
lost transaction somewhere else. The version test keeps pyproject.toml's pin, requirements.lock and
the installed SQLAlchemy in agreement.
"""

from __future__ import annotations

import logging
import re
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, cast

import asyncpg
import pytest
import sqlalchemy
from packaging.requirements import Requirement
from packaging.version import Version
from sqlalchemy import Table, bindparam, event, inspect, text
from sqlalchemy.engine import make_url

from loyalty import sqlalchemy_internals
from loyalty.db import create_engine
from loyalty.models import LoyaltyCard, LoyaltyTransaction
from loyalty.sqlalchemy_internals import (
    asyncpg_connection,
    driver_statement,
    loaded,
    pooled_asyncpg_connection,
    return_to_pool,
)

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


@contextmanager
def relied_on(internal: str, what: str) -> Iterator[None]:
    """Turns any failure inside into one message naming the internal, what it relies on and the version."""
    try:
        yield
    except pytest.skip.Exception:
        raise
    except BaseException as exc:
        pytest.fail(
            f"sqlalchemy_internals.{internal} relies on {what}, which SQLAlchemy {sqlalchemy.__version__} no "
            f"longer does ({type(exc).__name__}: {exc}). Adapt src/loyalty/sqlalchemy_internals.py (or use the "
            "public API) before moving the pin in pyproject.toml.",
            pytrace=False,
        )


def test_the_installed_sqlalchemy_is_the_locked_one_within_the_pinned_range() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins = [Requirement(dep) for dep in project["project"]["dependencies"] if dep.lower().startswith("sqlalchemy")]
    assert len(pins) == 1, "pyproject.toml names SQLAlchemy once"
    pin = pins[0].specifier
    upper = [spec for spec in pin if spec.operator == "<"]
    assert upper, f"pyproject.toml gives SQLAlchemy no upper bound ({pin}): sqlalchemy_internals needs one"
    locked = re.search(r"^sqlalchemy==(\S+)$", (ROOT / "requirements.lock").read_text(), re.MULTILINE | re.IGNORECASE)
    assert locked, "requirements.lock pins no SQLAlchemy version"
    installed = Version(sqlalchemy.__version__)
    assert pin.contains(installed), (
        f"SQLAlchemy {installed} is installed, outside pyproject.toml's {pin}: check sqlalchemy_internals "
        "(this file's tests) against it, then move the pin and requirements.lock together"
    )
    assert Version(locked.group(1)) == installed, f"requirements.lock says {locked.group(1)}, {installed} is installed"


def _card_row() -> dict[str, Any]:
    return {
        "id": 7,
        "vendor_id": 1,
        "program_id": 2,
        "customer_id": 3,
        "card_number": "4000123456789010",
        "qr_code": "qr",
        "card_token": "token",
        "stamp_count": 3,
        "stamps_today": 1,
        "stamps_today_date": date(2026, 11, 21),
        "total_stamps_earned": 3,
        "stamps_redeemed": 0,
        "points_balance": 10,
        "total_points_earned": 10,
        "total_points_redeemed": 0,
        "is_active": True,
        "enrolled_at": NOW,
        "updated_at": NOW,
        "last_stamp_at": None,
    }


def test_loaded_builds_an_instance_whose_row_is_its_committed_state() -> None:
    with relied_on(
        "loaded",
        "Mapper.class_manager.new_instance() making an instance without __init__, and values put into "
        "InstanceState.dict reading as committed (unmodified) values whose later change is history",
    ):
        card = loaded(LoyaltyCard, _card_row())
        state = inspect(card)
        assert isinstance(card, LoyaltyCard) and state.transient and state.key is None
        assert card.stamp_count == 3 and card.card_number == "4000123456789010"
        assert set(_card_row()) <= state.unmodified, "a loaded value counts as a change"
        card.stamp_count += 1
        assert "stamp_count" not in state.unmodified
        assert tuple(state.attrs.stamp_count.history) == ([4], (), [3]), "the committed value is lost"
        assert state.attrs.points_balance.history.unchanged == [10]


def test_a_driver_statement_is_asyncpg_sql_with_its_parameters_in_order() -> None:
    ledger = cast(Table, LoyaltyTransaction.__table__)
    statement = (
        ledger.update()
        .where(ledger.c.card_id == bindparam("card"), ledger.c.vendor_id == bindparam("vendor"))
        .values(
            stamps_delta=ledger.c.stamps_delta + 1, transaction_at=bindparam("at", type_=ledger.c.transaction_at.type)
        )
    )
    with relied_on(
        "driver_statement",
        "the asyncpg dialect compiling to asyncpg's $n placeholders, and SQLCompiler.construct_expanded_state() "
        "giving their order, the statement's own values and the types' bind processors",
    ):
        compiled = driver_statement(statement, make_url("postgresql+asyncpg://").get_dialect()())
        placeholders = [int(n) for n in re.findall(r"\$(\d+)", compiled.sql)]
        assert sorted(placeholders) == list(range(1, len(compiled.names) + 1)), compiled.sql
        assert compiled.names.index("card") < compiled.names.index("vendor")
        literal = next(name for name in compiled.names if name not in {"card", "vendor", "at"})
        assert compiled.constants[literal] == 1, "the statement's own value (the 1 of `+ 1`) is missing"
        assert set(compiled.processors) == {"at"}, "the UTC column's bind processor is not named"
        arguments = compiled.arguments({"card": 5, "vendor": 6, "at": NOW})
        assert arguments[compiled.names.index("card")] == 5
        assert arguments[compiled.names.index(literal)] == 1
        assert arguments[compiled.names.index("at")] == NOW


@pytest.mark.postgres
@pytest.mark.anyio
async def test_a_transaction_begun_on_asyncpg_carries_what_sqlalchemy_executes(pg_database_url: str) -> None:
    engine = create_engine(pg_database_url, pool_size=1)
    try:
        with relied_on(
            "asyncpg_connection",
            "AsyncConnection.sync_connection.connection.driver_connection being asyncpg's Connection, and "
            "SQLAlchemy under AUTOCOMMIT issuing no BEGIN/COMMIT/ROLLBACK of its own",
        ):
            async with engine.connect() as connection:
                driver = asyncpg_connection(connection)
                assert isinstance(driver, asyncpg.Connection), type(driver)
                await driver.execute("CREATE TEMPORARY TABLE internals_probe (n integer)")
                for ends_with, kept in (("rollback", 0), ("commit", 1)):
                    transaction = driver.transaction()
                    await transaction.start()
                    await connection.execute(text("INSERT INTO internals_probe VALUES (1)"))
                    assert driver.is_in_transaction(), "SQLAlchemy ended the driver's transaction"
                    await getattr(transaction, ends_with)()
                    count = await driver.fetchval("SELECT count(*) FROM internals_probe")
                    assert count == kept, f"after {ends_with}: {count} rows, SQLAlchemy ran its own transaction"
                await driver.execute("DROP TABLE internals_probe")
    finally:
        await engine.dispose()


@pytest.mark.postgres
@pytest.mark.anyio
async def test_returning_a_connection_to_the_pool_does_no_io(
    pg_database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Checked in outside SQLAlchemy's greenlet, any round trip would fail and the pool would discard
    the connection: the same asyncpg connection, still open, must come out again."""
    engine = create_engine(pg_database_url, pool_size=1)
    try:
        with relied_on(
            "return_to_pool",
            "Connection.close() under AUTOCOMMIT checking the connection in without a round trip",
        ):
            connection = await engine.connect()
            driver = asyncpg_connection(connection)
            await connection.execute(text("SELECT 1"))
            with caplog.at_level(logging.ERROR, logger="sqlalchemy"):
                return_to_pool(connection)
            assert not driver.is_closed(), "the pool closed the connection while checking it in"
            assert [r.getMessage() for r in caplog.records if r.name.startswith("sqlalchemy")] == []
            async with engine.connect() as again:
                assert asyncpg_connection(again) is driver, "the pool discarded the connection it was given back"
    finally:
        await engine.dispose()


@pytest.mark.postgres
@pytest.mark.anyio
async def test_the_checkout_event_sees_the_asyncpg_connection(pg_database_url: str) -> None:
    engine = create_engine(pg_database_url, pool_size=1)
    seen: list[Any] = []

    @event.listens_for(engine.sync_engine, "checkout")
    def _record(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        seen.append(pooled_asyncpg_connection(dbapi_connection))

    try:
        with relied_on(
            "pooled_asyncpg_connection",
            "a pool event's DBAPI connection having `driver_connection`, asyncpg's Connection",
        ):
            async with engine.connect() as connection:
                assert seen and isinstance(seen[-1], asyncpg.Connection), seen
                assert seen[-1] is asyncpg_connection(connection)
                assert seen[-1].is_closed() is False
    finally:
        await engine.dispose()


@pytest.mark.postgres
@pytest.mark.anyio
async def test_asyncpg_decodes_json_as_sqlalchemy_registered_it(pg_database_url: str) -> None:
    """Rows the compiled fast path fetches on the driver skip SQLAlchemy's result processing: the
    programme's JSON catalogue must still arrive as Python values (the dialect's codec), instants as
    aware datetimes."""
    engine = create_engine(pg_database_url, pool_size=1)
    try:
        with relied_on(
            "driver_statement",
            "the asyncpg dialect registering its JSON codec on every new asyncpg connection",
        ):
            async with engine.connect() as connection:
                driver = asyncpg_connection(connection)
                row = await driver.fetchrow(
                    """SELECT '[{"id": 1}]'::json AS rewards, '2026-11-21T09:00:00Z'::timestamptz AS at"""
                )
                assert row["rewards"] == [{"id": 1}], f"JSON arrives as {row['rewards']!r}"
                assert row["at"] == NOW and row["at"].utcoffset() is not None
    finally:
        await engine.dispose()


def test_every_internal_is_guarded_here() -> None:
    """A function added to sqlalchemy_internals needs a test here that names it."""
    public = {
        name
        for name, value in vars(sqlalchemy_internals).items()
        if callable(value) and getattr(value, "__module__", "") == sqlalchemy_internals.__name__ and name[0] != "_"
    } - {"DriverStatement"}
    source = Path(__file__).read_text()
    unguarded = sorted(name for name in public if f'"{name}"' not in source)
    assert unguarded == []


def test_the_ledger_reads_pending_changes_through_the_public_api() -> None:
    """services/ledger.py gave up `committed_state` and `NO_VALUE` for `unmodified` and `history`:
    no module of the service imports SQLAlchemy's private modules any more, only sqlalchemy_internals
    uses private API."""
    private = re.compile(r"^\s*(?:from|import) sqlalchemy\.(?:orm\.(?:base|state|instrumentation)|sql\.compiler)\b")
    offenders = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "src" / "loyalty").rglob("*.py"))
        if path.name != "sqlalchemy_internals.py" and any(private.match(line) for line in path.read_text().splitlines())
    ]
    assert offenders == []
    source = (ROOT / "src" / "loyalty" / "services" / "ledger.py").read_text()
    assert "committed_state" not in source and "NO_VALUE" not in source
