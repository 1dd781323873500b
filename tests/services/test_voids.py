"""Voids: a compensating entry, at most once per entry, never below zero."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.errors import StaffPinRequired, TransactionNotFound, TransactionNotVoidable
from loyalty.models import LoyaltyTransaction
from loyalty.services import programs
from loyalty.services.points import EarnRequest, PointsRedeemRequest, earn_points, redeem_points
from loyalty.services.stamps import StampRequest, add_stamp, redeem_stamps
from loyalty.services.voids import VoidRequest, void_transaction
from tests.services import helpers
from tests.services.helpers import CLIENT_IP, USER_AGENT, Caller
from tests.tenants import Tenant

pytestmark = pytest.mark.anyio


def void(tenant: Tenant, reason: str = "entered by mistake") -> VoidRequest:
    return VoidRequest(reason=reason, staff_pin=tenant.pin)


async def give_stamps(database: Database, caller: Caller, tenant: Tenant, count: int) -> list[LoyaltyTransaction]:
    await helpers.set_program(database, tenant.program_id, cooldown_minutes=0, max_daily_stamps=100)
    return [
        (await caller(add_stamp, StampRequest(card_id=tenant.card_id, staff_pin=tenant.pin))).entry
        for _ in range(count)
    ]


async def test_voiding_a_stamp_reverses_it(
    database: Database, caller: Caller, tenant: Tenant, clock: FixedClock
) -> None:
    [entry] = await give_stamps(database, caller, tenant, 1)
    clock.advance(timedelta(minutes=3))

    reversal = await caller(void_transaction, entry.id, void(tenant, "wrong card"))

    assert reversal.transaction_type == "void"
    assert (reversal.stamps_delta, reversal.points_delta, reversal.stamps_balance_after) == (-1, 0, 0)
    assert reversal.voids_transaction_id == entry.id
    assert reversal.notes == "wrong card"
    assert (reversal.staff_pin_id, reversal.client_ip, reversal.user_agent) == (tenant.pin_id, CLIENT_IP, USER_AGENT)
    assert reversal.transaction_at == clock.now()
    card = await helpers.card(database, tenant.card_id)
    assert (card.stamp_count, card.total_stamps_earned) == (0, 0)
    await helpers.assert_ledger_consistent(database)


async def test_an_entry_is_voided_at_most_once(database: Database, caller: Caller, tenant: Tenant) -> None:
    [entry] = await give_stamps(database, caller, tenant, 1)
    await caller(void_transaction, entry.id, void(tenant))
    with pytest.raises(TransactionNotVoidable) as refused:
        await caller(void_transaction, entry.id, void(tenant))
    assert refused.value.details == {"transaction_id": entry.id, "reason": "already_voided"}
    assert len(await helpers.ledger(database)) == 2


async def test_a_void_cannot_be_voided(database: Database, caller: Caller, tenant: Tenant) -> None:
    [entry] = await give_stamps(database, caller, tenant, 1)
    reversal = await caller(void_transaction, entry.id, void(tenant))
    with pytest.raises(TransactionNotVoidable) as refused:
        await caller(void_transaction, reversal.id, void(tenant))
    assert refused.value.details == {"transaction_id": reversal.id, "reason": "is_void"}


async def test_a_spent_stamp_cannot_be_voided(database: Database, caller: Caller, tenant: Tenant) -> None:
    entries = await give_stamps(database, caller, tenant, 3)
    await caller(redeem_stamps, StampRequest(card_id=tenant.card_id, staff_pin=tenant.pin))
    with pytest.raises(TransactionNotVoidable) as refused:
        await caller(void_transaction, entries[0].id, void(tenant))
    assert refused.value.details == {"transaction_id": entries[0].id, "reason": "negative_balance"}
    assert (await helpers.card(database, tenant.card_id)).stamp_count == 0
    await helpers.assert_ledger_consistent(database)


async def test_voiding_a_redemption_gives_the_stamps_back(database: Database, caller: Caller, tenant: Tenant) -> None:
    await give_stamps(database, caller, tenant, 3)
    redemption = await caller(redeem_stamps, StampRequest(card_id=tenant.card_id, staff_pin=tenant.pin))
    reversal = await caller(void_transaction, redemption.entry.id, void(tenant))
    assert (reversal.stamps_delta, reversal.stamps_balance_after) == (3, 3)
    card = await helpers.card(database, tenant.card_id)
    assert (card.stamp_count, card.stamps_redeemed, card.total_stamps_earned) == (3, 0, 3)
    await helpers.assert_ledger_consistent(database)


async def test_voiding_points_earned_and_redeemed(database: Database, settings: Settings, clock: FixedClock) -> None:
    from tests.services.helpers import caller_for
    from tests.tenants import make_tenant

    rewards = [programs.Reward(name="Croissant", points_required=5)]
    shop = await make_tenant(database, settings, clock, slug="bakery", points_rewards=rewards)
    caller = await caller_for(database, settings, clock, shop)
    earned = await caller(earn_points, EarnRequest(card_id=shop.card_id, purchase_amount_cents=800, staff_pin=shop.pin))
    spent = await caller(redeem_points, PointsRedeemRequest(card_id=shop.card_id, reward_id=1, staff_pin=shop.pin))

    # 8 earned, 5 spent: voiding the purchase would leave -5.
    with pytest.raises(TransactionNotVoidable) as refused:
        await caller(void_transaction, earned.entry.id, void(shop))
    assert refused.value.details["reason"] == "negative_balance"

    reversal = await caller(void_transaction, spent.entry.id, void(shop))
    assert (reversal.points_delta, reversal.points_balance_after, reversal.reward_id) == (5, 8, 1)
    await caller(void_transaction, earned.entry.id, void(shop))
    card = await helpers.card(database, shop.card_id)
    assert (card.points_balance, card.total_points_earned, card.total_points_redeemed) == (0, 0, 0)
    await helpers.assert_ledger_consistent(database)


async def test_an_unknown_or_foreign_entry_is_not_found(
    database: Database, caller: Caller, tenant: Tenant, other_caller: Caller, other_tenant: Tenant
) -> None:
    with pytest.raises(TransactionNotFound) as refused:
        await caller(void_transaction, 999_999, void(tenant))
    assert refused.value.details == {"identifier": 999_999}

    await helpers.set_program(database, other_tenant.program_id, cooldown_minutes=0)
    foreign = await other_caller(add_stamp, StampRequest(card_id=other_tenant.card_id, staff_pin=other_tenant.pin))
    with pytest.raises(TransactionNotFound):
        await caller(void_transaction, foreign.entry.id, void(tenant))
    assert (await helpers.card(database, other_tenant.card_id)).stamp_count == 1


async def test_a_void_needs_a_pin_and_a_reason(database: Database, caller: Caller, tenant: Tenant) -> None:
    [entry] = await give_stamps(database, caller, tenant, 1)
    with pytest.raises(StaffPinRequired):
        await caller(void_transaction, entry.id, VoidRequest(reason="x"))
    with pytest.raises(ValidationError):
        VoidRequest(reason="", staff_pin=tenant.pin)


async def test_voids_stay_possible_while_the_programme_is_paused(
    database: Database, caller: Caller, tenant: Tenant
) -> None:
    [entry] = await give_stamps(database, caller, tenant, 1)
    await helpers.set_program(database, tenant.program_id, is_active=False)
    reversal = await caller(void_transaction, entry.id, void(tenant))
    assert reversal.stamps_balance_after == 0
