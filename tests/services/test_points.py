"""Points: floor arithmetic in exact decimals, the catalogue, and never overdrawing."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.errors import InsufficientPoints, InvalidReward, PointsNotEnabled, ProgramInactive
from loyalty.services import programs
from loyalty.services.context import Context
from loyalty.services.points import (
    MAX_PURCHASE_CENTS,
    EarnRequest,
    PointsRedeemRequest,
    earn_points,
    points_for,
    redeem_points,
)
from tests.services import helpers
from tests.services.helpers import CLIENT_IP, USER_AGENT, Caller, caller_for
from tests.tenants import Tenant, make_tenant

pytestmark = pytest.mark.anyio

REWARDS = [
    programs.Reward(name="Croissant", points_required=5),
    programs.Reward(name="Cake", points_required=12),
    programs.Reward(name="Retired", points_required=1, is_active=False),
]


@pytest.fixture
async def shop(database: Database, settings: Settings, clock: FixedClock) -> Tenant:
    return await make_tenant(database, settings, clock, slug="bakery", points_rewards=REWARDS)


@pytest.fixture
async def shop_caller(database: Database, settings: Settings, clock: FixedClock, shop: Tenant) -> Caller:
    return await caller_for(database, settings, clock, shop)


def earn(tenant: Tenant, cents: int, **fields: Any) -> EarnRequest:
    return EarnRequest(card_id=tenant.card_id, purchase_amount_cents=cents, staff_pin=tenant.pin, **fields)


def redeem(tenant: Tenant, reward_id: int, **fields: Any) -> PointsRedeemRequest:
    return PointsRedeemRequest(card_id=tenant.card_id, reward_id=reward_id, staff_pin=tenant.pin, **fields)


points_per_euro = st.decimals(min_value=0, max_value=10000, places=4, allow_nan=False, allow_infinity=False)


@given(cents=st.integers(min_value=1, max_value=MAX_PURCHASE_CENTS), ppe=points_per_euro)
def test_points_are_the_floor_of_cents_times_rate(cents: int, ppe: Decimal) -> None:
    points = points_for(cents, ppe)
    assert points == math.floor(Fraction(cents) * Fraction(ppe) / 100)
    assert points >= 0
    assert isinstance(points, int)


@pytest.mark.parametrize(
    ("cents", "ppe", "points"),
    [
        (1250, Decimal(1), 12),
        (1299, Decimal(1), 12),
        (99, Decimal(1), 0),
        (10000, Decimal("0.57"), 57),  # in binary floats 10000 × 0.57 / 100 is 56.99…
        (3000, Decimal("2.3"), 69),  # and 3000 × 2.3 / 100 is 68.99…
        (333, Decimal("0.3333"), 1),
        (1250, Decimal("2.5"), 31),
        (1, Decimal(10000), 100),
    ],
)
def test_points_examples(cents: int, ppe: Decimal, points: int) -> None:
    assert points_for(cents, ppe) == points


async def test_a_decimal_rate_survives_the_database(database: Database, settings: Settings, clock: FixedClock) -> None:
    tenant = await make_tenant(database, settings, clock, slug="rate")
    caller = await caller_for(database, settings, clock, tenant)
    balance = 0
    for ppe, cents, points in ((Decimal("0.57"), 10000, 57), (Decimal("2.3"), 3000, 69), (Decimal("2.5"), 1250, 31)):
        await helpers.set_program(database, tenant.program_id, points_per_euro=ppe)
        outcome = await caller(earn_points, earn(tenant, cents))
        balance += points
        assert (outcome.entry.points_delta, outcome.card.points_balance) == (points, balance)
    assert (await helpers.card(database, tenant.card_id)).points_balance == balance


def test_purchase_amount_must_be_positive_and_sane() -> None:
    for cents in (0, -1, MAX_PURCHASE_CENTS + 1):
        with pytest.raises(ValidationError):
            EarnRequest(card_id=1, purchase_amount_cents=cents)


async def test_earning_records_the_purchase(
    database: Database, shop_caller: Caller, shop: Tenant, clock: FixedClock
) -> None:
    outcome = await shop_caller(earn_points, earn(shop, 1250, order_reference="A-17", notes="two loaves"))

    assert (outcome.card.points_balance, outcome.card.total_points_earned) == (12, 12)
    entry = outcome.entry
    assert entry.transaction_type == "points_earned"
    assert (entry.points_delta, entry.stamps_delta, entry.points_balance_after) == (12, 0, 12)
    assert (entry.purchase_amount_cents, entry.order_reference, entry.notes) == (1250, "A-17", "two loaves")
    assert (entry.staff_pin_id, entry.client_ip, entry.user_agent) == (shop.pin_id, CLIENT_IP, USER_AGENT)
    assert entry.transaction_at == clock.now()


async def test_redeeming_spends_the_rewards_price(database: Database, shop_caller: Caller, shop: Tenant) -> None:
    await shop_caller(earn_points, earn(shop, 2000))
    outcome = await shop_caller(redeem_points, redeem(shop, 2))

    assert (outcome.card.points_balance, outcome.card.total_points_redeemed) == (8, 12)
    entry = outcome.entry
    assert entry.transaction_type == "points_redeemed"
    assert (entry.points_delta, entry.points_balance_after, entry.reward_id) == (-12, 8, 2)
    assert entry.reward_description == "Cake"
    assert (entry.staff_pin_id, entry.client_ip, entry.user_agent) == (shop.pin_id, CLIENT_IP, USER_AGENT)
    await helpers.assert_ledger_consistent(database)


async def test_redeeming_more_than_the_balance_is_refused(
    database: Database, shop_caller: Caller, shop: Tenant
) -> None:
    await shop_caller(earn_points, earn(shop, 1100))
    with pytest.raises(InsufficientPoints) as refused:
        await shop_caller(redeem_points, redeem(shop, 2))
    assert refused.value.details == {"current_points": 11, "required_points": 12}
    assert (await helpers.card(database, shop.card_id)).points_balance == 11


async def test_exactly_the_balance_can_be_spent(database: Database, shop_caller: Caller, shop: Tenant) -> None:
    await shop_caller(earn_points, earn(shop, 1200))
    outcome = await shop_caller(redeem_points, redeem(shop, 2))
    assert outcome.card.points_balance == 0


async def test_an_inactive_or_unknown_reward_is_invalid(database: Database, shop_caller: Caller, shop: Tenant) -> None:
    await shop_caller(earn_points, earn(shop, 5000))
    for reward_id in (3, 99):  # inactive, unknown
        with pytest.raises(InvalidReward) as refused:
            await shop_caller(redeem_points, redeem(shop, reward_id))
        assert refused.value.details == {"reward_id": reward_id}
    assert (await helpers.card(database, shop.card_id)).points_balance == 50


async def test_a_stamps_programme_takes_no_points(database: Database, settings: Settings, clock: FixedClock) -> None:
    tenant = await make_tenant(database, settings, clock, slug="stamps-only", program_type="stamps")
    caller = await caller_for(database, settings, clock, tenant)
    with pytest.raises(PointsNotEnabled) as refused:
        await caller(earn_points, earn(tenant, 1000))
    assert refused.value.details == {"program_id": tenant.program_id}
    with pytest.raises(PointsNotEnabled):
        await caller(redeem_points, redeem(tenant, 1))


async def test_a_paused_programme_takes_no_points(shop_caller: Caller, shop: Tenant) -> None:
    async def pause(ctx: Context) -> None:
        await programs.set_program_active(ctx, await programs.get_program(ctx), False)

    await shop_caller(pause)
    with pytest.raises(ProgramInactive):
        await shop_caller(earn_points, earn(shop, 1000))
