"""Real concurrency on PostgreSQL: N operations on one card at once, each in its own unit of work
(its own connection), must never pass the cooldown or the daily limit together, never overdraw, never
lose an update, void an entry at most once, and count every failed PIN."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Sequence
from typing import TypeVar

import pytest
from sqlalchemy import func, select

from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.errors import (
    DailyStampLimit,
    InsufficientPoints,
    InsufficientStamps,
    InvalidStaffPin,
    StaffPinLocked,
    StampCooldown,
    TransactionNotVoidable,
)
from loyalty.models import LoyaltyProgram, LoyaltyTransaction, StaffPin
from loyalty.services import programs
from loyalty.services.context import Context
from loyalty.services.points import EarnRequest, PointsRedeemRequest, earn_points, redeem_points
from loyalty.services.stamps import StampRequest, add_stamp, redeem_stamps
from loyalty.services.voids import VoidRequest, void_transaction
from tests.services import helpers
from tests.services.helpers import Caller, caller_for
from tests.tenants import Tenant, make_tenant

pytestmark = pytest.mark.anyio

N = 25
T = TypeVar("T")


@pytest.fixture
def database_url(pg_database_url: str) -> str:
    """This module runs on PostgreSQL only: row locks are what it proves."""
    return pg_database_url


async def at_once(*operations: Awaitable[T]) -> list[T | BaseException]:
    """Run the coroutines together; each result is the return value or the exception raised."""
    return await asyncio.gather(*operations, return_exceptions=True)


def outcome_kinds(results: Sequence[object]) -> Counter[str]:
    return Counter("ok" if not isinstance(r, BaseException) else type(r).__name__ for r in results)


def unexpected(results: Sequence[object], *allowed: type[BaseException]) -> list[BaseException]:
    return [r for r in results if isinstance(r, BaseException) and not isinstance(r, allowed)]


def stamp(tenant: Tenant) -> StampRequest:
    return StampRequest(card_id=tenant.card_id, staff_pin=tenant.pin)


async def test_the_daily_limit_holds_under_concurrent_stamps(
    database: Database, caller: Caller, tenant: Tenant
) -> None:
    await helpers.set_program(database, tenant.program_id, cooldown_minutes=0, max_daily_stamps=5, stamps_target=100)

    results = await at_once(*(caller(add_stamp, stamp(tenant)) for _ in range(N)))

    assert unexpected(results, DailyStampLimit) == []
    assert outcome_kinds(results) == {"ok": 5, "DailyStampLimit": N - 5}
    assert sorted(r.card.stamp_count for r in results if not isinstance(r, BaseException)) == [1, 2, 3, 4, 5]
    assert (await helpers.card(database, tenant.card_id)).stamp_count == 5
    assert len(await helpers.ledger(database, tenant.card_id)) == 5
    await helpers.assert_ledger_consistent(database)


async def test_the_cooldown_holds_under_concurrent_stamps(database: Database, caller: Caller, tenant: Tenant) -> None:
    await helpers.set_program(database, tenant.program_id, cooldown_minutes=15, max_daily_stamps=100)

    results = await at_once(*(caller(add_stamp, stamp(tenant)) for _ in range(N)))

    assert unexpected(results, StampCooldown) == []
    assert outcome_kinds(results) == {"ok": 1, "StampCooldown": N - 1}
    assert (await helpers.card(database, tenant.card_id)).stamp_count == 1
    await helpers.assert_ledger_consistent(database)


async def test_concurrent_stamp_redemptions_never_overdraw(database: Database, caller: Caller, tenant: Tenant) -> None:
    await helpers.set_program(database, tenant.program_id, cooldown_minutes=0, max_daily_stamps=100)
    for _ in range(7):  # 7 stamps, 3 per reward: exactly 2 rewards
        await caller(add_stamp, stamp(tenant))

    results = await at_once(*(caller(redeem_stamps, stamp(tenant)) for _ in range(N)))

    assert unexpected(results, InsufficientStamps) == []
    assert outcome_kinds(results) == {"ok": 2, "InsufficientStamps": N - 2}
    card = await helpers.card(database, tenant.card_id)
    assert (card.stamp_count, card.stamps_redeemed) == (1, 2)
    await helpers.assert_ledger_consistent(database)


@pytest.fixture
async def shop(database: Database, settings: Settings, clock: FixedClock) -> Tenant:
    rewards = [programs.Reward(name="Croissant", points_required=3)]
    return await make_tenant(database, settings, clock, slug="bakery", program_type="points", points_rewards=rewards)


@pytest.fixture
async def shop_caller(database: Database, settings: Settings, clock: FixedClock, shop: Tenant) -> Caller:
    return await caller_for(database, settings, clock, shop)


def earn(shop: Tenant, cents: int) -> EarnRequest:
    return EarnRequest(card_id=shop.card_id, purchase_amount_cents=cents, staff_pin=shop.pin)


def spend(shop: Tenant) -> PointsRedeemRequest:
    return PointsRedeemRequest(card_id=shop.card_id, reward_id=1, staff_pin=shop.pin)


async def test_concurrent_point_redemptions_never_overdraw(
    database: Database, shop_caller: Caller, shop: Tenant
) -> None:
    await shop_caller(earn_points, earn(shop, 1000))  # 10 points, 3 per croissant: exactly 3

    results = await at_once(*(shop_caller(redeem_points, spend(shop)) for _ in range(N)))

    assert unexpected(results, InsufficientPoints) == []
    assert outcome_kinds(results) == {"ok": 3, "InsufficientPoints": N - 3}
    card = await helpers.card(database, shop.card_id)
    assert (card.points_balance, card.total_points_redeemed) == (1, 9)
    await helpers.assert_ledger_consistent(database)


async def test_concurrent_earning_and_spending_lose_no_update(
    database: Database, shop_caller: Caller, shop: Tenant
) -> None:
    await shop_caller(earn_points, earn(shop, 600))  # 6 points to start with
    operations = [shop_caller(earn_points, earn(shop, 500)) for _ in range(15)]
    operations += [shop_caller(redeem_points, spend(shop)) for _ in range(15)]

    results = await at_once(*operations)

    assert unexpected(results, InsufficientPoints) == []
    earned = sum(r.entry.points_delta for r in results[:15] if not isinstance(r, BaseException))
    spent = [r for r in results[15:] if not isinstance(r, BaseException)]
    assert earned == 75
    card = await helpers.card(database, shop.card_id)
    assert card.points_balance == 6 + earned - 3 * len(spent)
    assert (card.total_points_earned, card.total_points_redeemed) == (81, 3 * len(spent))
    assert len(await helpers.ledger(database, shop.card_id)) == 1 + 15 + len(spent)
    await helpers.assert_ledger_consistent(database)


async def test_concurrent_voids_of_one_entry_void_it_once(
    database: Database, shop_caller: Caller, shop: Tenant
) -> None:
    entry = (await shop_caller(earn_points, earn(shop, 2000))).entry

    results = await at_once(
        *(shop_caller(void_transaction, entry.id, VoidRequest(reason="dup", staff_pin=shop.pin)) for _ in range(N))
    )

    assert unexpected(results, TransactionNotVoidable) == []
    assert outcome_kinds(results) == {"ok": 1, "TransactionNotVoidable": N - 1}
    assert {r.details["reason"] for r in results if isinstance(r, TransactionNotVoidable)} == {"already_voided"}
    async with database.unit_of_work() as session:
        voids = await session.scalar(select(func.count()).where(LoyaltyTransaction.voids_transaction_id == entry.id))
    assert voids == 1
    assert (await helpers.card(database, shop.card_id)).points_balance == 0
    await helpers.assert_ledger_consistent(database)


async def test_every_concurrent_wrong_pin_is_counted(
    database: Database, settings: Settings, clock: FixedClock, tenant: Tenant
) -> None:
    from tests.fixtures import test_settings

    lenient = test_settings(settings.database_url, pin_max_attempts=100)
    caller = await caller_for(database, lenient, clock, tenant)

    results = await at_once(*(caller.with_program(_verify, "0000", tenant.pin_id) for _ in range(N)))

    assert outcome_kinds(results) == {"InvalidStaffPin": N}
    assert (await helpers.staff_pin(database, tenant.pin_id)).failed_attempts == N
    [guard] = await helpers.guards(database)
    assert guard.failed_attempts == N


async def test_concurrent_wrong_pins_lock_the_pin(
    database: Database, settings: Settings, caller: Caller, tenant: Tenant
) -> None:
    results = await at_once(*(caller.with_program(_verify, "0000", tenant.pin_id) for _ in range(N)))

    assert unexpected(results, InvalidStaffPin, StaffPinLocked) == []
    failures = outcome_kinds(results)["InvalidStaffPin"]
    assert failures >= settings.pin_max_attempts
    stored = await helpers.staff_pin(database, tenant.pin_id)
    assert stored.failed_attempts == failures  # every wrong PIN that was checked was counted
    assert stored.locked_until is not None
    with pytest.raises(StaffPinLocked):
        await caller.with_program(_verify, tenant.pin, tenant.pin_id)


async def test_concurrent_stamps_on_many_cards_keep_every_ledger_consistent(
    database: Database, settings: Settings, clock: FixedClock, caller: Caller, tenant: Tenant
) -> None:
    from loyalty.services import cards

    await helpers.set_program(database, tenant.program_id, cooldown_minutes=0, max_daily_stamps=3, stamps_target=2)
    card_ids = [tenant.card_id]
    for n in range(4):
        view = await caller.with_program(cards.enrol, cards.Enrolment(email=f"c{n}@example.com"))
        card_ids.append(view.card.id)
    operations: list[Awaitable[object]] = []
    for card_id in card_ids:
        operations += [caller(add_stamp, StampRequest(card_id=card_id, staff_pin=tenant.pin)) for _ in range(5)]
        operations += [caller(redeem_stamps, StampRequest(card_id=card_id, staff_pin=tenant.pin)) for _ in range(2)]

    results = await at_once(*operations)

    assert unexpected(results, DailyStampLimit, InsufficientStamps) == []
    for card_id in card_ids:
        card = await helpers.card(database, card_id)
        assert card.total_stamps_earned == 3
        assert card.stamp_count == 3 - 2 * card.stamps_redeemed
    await helpers.assert_ledger_consistent(database)


async def _verify(ctx: Context, program: LoyaltyProgram, pin: str | None, pin_id: int | None) -> StaffPin | None:
    from loyalty.services.pins import verify_staff_pin

    return await verify_staff_pin(ctx, program, pin, pin_id)


async def test_concurrent_enrolments_of_one_email_give_one_card(
    database: Database, caller: Caller, tenant: Tenant
) -> None:
    from loyalty.errors import CardAlreadyExists
    from loyalty.services import cards

    enrolment = cards.Enrolment(email="Rush@Example.com")
    results = await at_once(*(caller.with_program(cards.enrol, enrolment) for _ in range(10)))

    assert unexpected(results, CardAlreadyExists) == []
    assert outcome_kinds(results) == {"ok": 1, "CardAlreadyExists": 9}


async def test_concurrent_pins_with_the_same_digits_give_one_pin(
    database: Database, caller: Caller, tenant: Tenant
) -> None:
    from loyalty.errors import StaffPinAlreadyExists
    from loyalty.services import pins

    results = await at_once(
        *(caller.with_program(pins.create_pin, pins.NewPin(name="X", pin="4321")) for _ in range(10))
    )

    assert unexpected(results, StaffPinAlreadyExists) == []
    assert outcome_kinds(results) == {"ok": 1, "StaffPinAlreadyExists": 9}
