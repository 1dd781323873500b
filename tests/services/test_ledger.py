"""The ledger is written with the card, in one transaction: an error half-way leaves nothing behind."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.models import LoyaltyTransaction, VendorTotals, WalletOutbox
from loyalty.services import ledger as ledger_service
from loyalty.services import outbox as outbox_service
from loyalty.services.points import EarnRequest, earn_points
from loyalty.services.stamps import StampRequest, add_stamp
from tests.fixtures import DevWallet, test_settings
from tests.services import helpers
from tests.services.helpers import Caller, caller_for
from tests.tenants import Tenant

pytestmark = pytest.mark.anyio


class Boom(RuntimeError):
    pass


def fail_after_writing(patch: pytest.MonkeyPatch) -> None:
    """Every balance change fails once the card moved and its entry and outbox rows reached the database
    (by either way the ledger writes: `append`'s, or `append_if`'s one statement)."""
    write, write_if = ledger_service._write, ledger_service.append_if

    async def write_then_fail(*args: Any, **kwargs: Any) -> Any:
        await write(*args, **kwargs)
        raise Boom()

    async def write_if_then_fail(*args: Any, **kwargs: Any) -> Any:
        if await write_if(*args, **kwargs) is not None:
            raise Boom()
        return None

    patch.setattr(ledger_service, "_write", write_then_fail)
    patch.setattr(ledger_service, "append_if", write_if_then_fail)


@pytest.fixture
def failing_wallet_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    fail_after_writing(monkeypatch)


async def snapshot(database: Database, card_id: int) -> tuple[dict[str, object], list[LoyaltyTransaction]]:
    card = await helpers.card(database, card_id)
    columns = (
        "stamp_count",
        "total_stamps_earned",
        "points_balance",
        "total_points_earned",
        "last_stamp_at",
        "updated_at",
    )
    return {name: getattr(card, name) for name in columns}, await helpers.ledger(database)


async def test_a_stamp_failing_half_way_leaves_card_and_ledger_unchanged(
    database: Database, caller: Caller, tenant: Tenant, clock: FixedClock
) -> None:
    await caller(add_stamp, StampRequest(card_id=tenant.card_id, staff_pin=tenant.pin))
    before_card, before_ledger = await snapshot(database, tenant.card_id)
    clock.advance(timedelta(hours=1))

    with pytest.MonkeyPatch.context() as patch:
        fail_after_writing(patch)
        with pytest.raises(Boom):
            await caller(add_stamp, StampRequest(card_id=tenant.card_id, staff_pin=tenant.pin))

    after_card, after_ledger = await snapshot(database, tenant.card_id)
    assert after_card == before_card
    assert [e.id for e in after_ledger] == [e.id for e in before_ledger]
    # and the card still works: the failed attempt held no lock and left no trace
    assert (await caller(add_stamp, StampRequest(card_id=tenant.card_id, staff_pin=tenant.pin))).card.stamp_count == 2
    await helpers.assert_ledger_consistent(database)


async def test_points_failing_half_way_leave_card_and_ledger_unchanged(
    database: Database, caller: Caller, tenant: Tenant, failing_wallet_queue: None
) -> None:
    before_card, before_ledger = await snapshot(database, tenant.card_id)
    with pytest.raises(Boom):
        await caller(earn_points, EarnRequest(card_id=tenant.card_id, purchase_amount_cents=999, staff_pin=tenant.pin))
    after_card, after_ledger = await snapshot(database, tenant.card_id)
    assert (after_card, after_ledger) == (before_card, before_ledger)


async def test_a_refused_stamp_writes_nothing(database: Database, caller: Caller, tenant: Tenant) -> None:
    from loyalty.errors import StampCooldown

    await caller(add_stamp, StampRequest(card_id=tenant.card_id, staff_pin=tenant.pin))
    before = await snapshot(database, tenant.card_id)
    with pytest.raises(StampCooldown):
        await caller(add_stamp, StampRequest(card_id=tenant.card_id, staff_pin=tenant.pin))
    after = await snapshot(database, tenant.card_id)
    assert [e.id for e in after[1]] == [e.id for e in before[1]]
    assert after[0] == before[0]


async def test_every_change_moves_the_pass_version_forward(
    database: Database, settings: Settings, caller: Caller, tenant: Tenant, clock: FixedClock
) -> None:
    await helpers.set_program(database, tenant.program_id, cooldown_minutes=0)
    versions = [(await helpers.card(database, tenant.card_id)).updated_at]
    for _ in range(3):  # the clock stands still: versions must still move
        versions.append(
            (await caller(add_stamp, StampRequest(card_id=tenant.card_id, staff_pin=tenant.pin))).card.updated_at
        )
    assert versions == sorted(set(versions))


async def test_wallet_updates_are_queued_in_the_same_transaction(
    database: Database, settings: Settings, clock: FixedClock, tenant: Tenant, dev_wallet: DevWallet
) -> None:
    with_wallets = test_settings(settings.database_url, **dev_wallet.settings)  # Apple Wallet configured
    caller = await caller_for(database, with_wallets, clock, tenant)

    # A change that rolls back: its transaction held the row, and it goes with it.
    with pytest.raises(Boom):
        async with database.unit_of_work() as session:
            await add_stamp(caller.context(session), StampRequest(card_id=tenant.card_id, staff_pin=tenant.pin))
            await session.flush()
            assert len(list(await session.scalars(select(WalletOutbox)))) == 1
            raise Boom()
    assert await outbox(database) == []

    # A change that commits leaves it, pending, for the worker.
    outcome = await caller(add_stamp, StampRequest(card_id=tenant.card_id, staff_pin=tenant.pin))
    assert [(r.provider, r.card_id, r.pass_version, r.status) for r in await outbox(database)] == [
        ("apple", tenant.card_id, outcome.card.updated_at, "pending"),
    ]


async def outbox(database: Database) -> list[WalletOutbox]:
    async with database.unit_of_work() as session:
        return list(await session.scalars(select(WalletOutbox).order_by(WalletOutbox.provider)))


async def test_stamps_without_a_pin_write_card_entries_totals_and_one_outbox_row_per_wallet(
    database: Database, settings: Settings, clock: FixedClock, tenant: Tenant, dev_wallet: DevWallet
) -> None:
    """No PIN: on PostgreSQL each stamp is one statement sent alone (`ledger.append_if`); on SQLite, the
    locked card and `append`. Either way the same rows: the card, its entries, the vendor's totals, and a
    burst's one pending outbox row per wallet, due with its first change, at its last pass version."""
    await helpers.set_program(database, tenant.program_id, require_staff_pin=False, cooldown_minutes=0)
    wallets = {**dev_wallet.settings, "google_issuer_id": "3388000000000000001"}  # both wallets configured
    caller = await caller_for(database, test_settings(settings.database_url, **wallets), clock, tenant)
    first_due = clock.now() + timedelta(seconds=outbox_service.COALESCE_SECONDS)
    for _ in range(3):
        outcome = await caller(add_stamp, StampRequest(card_id=tenant.card_id))
        clock.advance(timedelta(milliseconds=300))

    assert (outcome.card.stamp_count, outcome.stamps_today, outcome.entry.stamps_balance_after) == (3, 3, 3)
    assert [(r.provider, r.pass_version, r.due_at, r.status) for r in await outbox(database)] == [
        ("apple", outcome.card.updated_at, first_due, "pending"),
        ("google", outcome.card.updated_at, first_due, "pending"),
    ]
    async with database.unit_of_work() as session:
        issued = await session.scalar(
            select(func.sum(VendorTotals.stamps_issued)).where(VendorTotals.vendor_id == tenant.vendor_id)
        )
    assert issued == 3
    assert (await helpers.card(database, tenant.card_id)).updated_at == outcome.card.updated_at
    await helpers.assert_ledger_consistent(database)
