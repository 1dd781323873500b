"""On PostgreSQL the ledger is append-only in the database itself: a trigger rejects UPDATE and DELETE."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from loyalty.db import Database
from loyalty.services.stamps import StampRequest, add_stamp
from tests.services import helpers
from tests.services.helpers import Caller
from tests.tenants import Tenant

pytestmark = pytest.mark.anyio


@pytest.fixture
def database_url(pg_database_url: str) -> str:
    return pg_database_url


@pytest.fixture
async def entry_id(caller: Caller, tenant: Tenant) -> int:
    return (await caller(add_stamp, StampRequest(card_id=tenant.card_id, staff_pin=tenant.pin))).entry.id


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE loyalty_transactions SET stamps_delta = 5 WHERE id = :id",
        "UPDATE loyalty_transactions SET notes = 'edited' WHERE id = :id",
        "DELETE FROM loyalty_transactions WHERE id = :id",
    ],
)
async def test_the_ledger_rejects_updates_and_deletes(database: Database, entry_id: int, statement: str) -> None:
    with pytest.raises(DBAPIError, match="append-only"):
        async with database.unit_of_work() as session:
            await session.execute(text(statement), {"id": entry_id})
    [entry] = await helpers.ledger(database)
    assert (entry.id, entry.stamps_delta, entry.notes) == (entry_id, 1, None)


async def test_the_orm_cannot_edit_an_entry_either(database: Database, entry_id: int) -> None:
    from loyalty.models import LoyaltyTransaction

    with pytest.raises(DBAPIError, match="append-only"):
        async with database.unit_of_work() as session:
            entry = await session.get(LoyaltyTransaction, entry_id)
            assert entry is not None
            entry.points_delta = 100
            await session.flush()
    await helpers.assert_ledger_consistent(database)


ERASING = "SELECT set_config('loyalty.erasure', 'on', true)"
BLANK_NOTES = "UPDATE loyalty_transactions SET notes = NULL WHERE id = :id"


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE loyalty_transactions SET notes = NULL, order_reference = NULL WHERE id = :id",  # not erasing
        f"{ERASING}; UPDATE loyalty_transactions SET notes = NULL, stamps_delta = 5 WHERE id = :id",
        f"{ERASING}; UPDATE loyalty_transactions SET notes = 'rewritten' WHERE id = :id",
        f"{ERASING}; DELETE FROM loyalty_transactions WHERE id = :id",
    ],
)
async def test_erasure_may_blank_free_text_and_nothing_else(
    database: Database, noted_entry_id: int, statement: str
) -> None:
    with pytest.raises(DBAPIError, match="append-only"):
        async with database.unit_of_work() as session:
            for part in statement.split("; "):
                await session.execute(text(part), {"id": noted_entry_id})
    [entry] = await helpers.ledger(database)
    assert (entry.stamps_delta, entry.notes) == (1, "call +352 621 222 333")


async def test_erasure_blanks_the_free_text_in_its_own_transaction_only(
    database: Database, noted_entry_id: int
) -> None:
    async with database.unit_of_work() as session:
        await session.execute(text(ERASING))
        await session.execute(
            text("UPDATE loyalty_transactions SET notes = NULL WHERE id = :id"), {"id": noted_entry_id}
        )
    [entry] = await helpers.ledger(database)
    assert (entry.stamps_delta, entry.notes) == (1, None)
    with pytest.raises(DBAPIError, match="append-only"):  # the setting ended with its transaction
        async with database.unit_of_work() as session:
            await session.execute(
                text("UPDATE loyalty_transactions SET notes = NULL WHERE id = :id"), {"id": noted_entry_id}
            )


@pytest.fixture
async def noted_entry_id(caller: Caller, tenant: Tenant) -> int:
    request = StampRequest(card_id=tenant.card_id, staff_pin=tenant.pin, notes="call +352 621 222 333")
    return (await caller(add_stamp, request)).entry.id
