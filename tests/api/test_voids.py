"""POST /transactions/{id}/void: the compensating entry, at most once, never below zero."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.models import LoyaltyCard, LoyaltyTransaction
from loyalty.services import programs
from loyalty.services.context import Actor, Context
from tests.api.helpers import assert_error
from tests.services.helpers import card as card_row
from tests.tenants import Tenant, make_tenant

pytestmark = pytest.mark.anyio

V = "/api/v1/vendor/loyalty"
COOLDOWN = timedelta(minutes=15)


async def post(client: httpx.AsyncClient, tenant: Tenant, path: str, **body: Any) -> httpx.Response:
    payload = {"card_id": tenant.card_id, "staff_pin": tenant.pin, **body}
    response = await client.post(f"{V}{path}", json=payload, headers=tenant.headers)
    assert response.status_code == 201, response.text
    return response


async def stamp(client: httpx.AsyncClient, tenant: Tenant, clock: FixedClock) -> int:
    response = await post(client, tenant, "/stamp")
    clock.advance(COOLDOWN)
    transaction_id: int = response.json()["transaction_id"]
    return transaction_id


async def void(client: httpx.AsyncClient, tenant: Tenant, transaction_id: int, **body: Any) -> httpx.Response:
    payload = {"reason": "rung up by mistake", "staff_pin": tenant.pin, **body}
    payload = {k: v for k, v in payload.items() if v is not None}
    return await client.post(f"{V}/transactions/{transaction_id}/void", json=payload, headers=tenant.headers)


async def assert_balances_match_ledger(database: Database, card_id: int) -> None:
    async with database.unit_of_work() as session:
        card = await session.get(LoyaltyCard, card_id)
        stamps, points = (
            await session.execute(
                select(
                    func.coalesce(func.sum(LoyaltyTransaction.stamps_delta), 0),
                    func.coalesce(func.sum(LoyaltyTransaction.points_delta), 0),
                ).where(LoyaltyTransaction.card_id == card_id)
            )
        ).one()
    assert card is not None
    assert (card.stamp_count, card.points_balance) == (stamps, points)


async def test_void_of_a_stamp_is_a_compensating_entry(
    client: httpx.AsyncClient, tenant: Tenant, clock: FixedClock, database: Database
) -> None:
    first = await stamp(client, tenant, clock)
    await stamp(client, tenant, clock)

    response = await void(client, tenant, first, staff_pin_id=tenant.pin_id)

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["transaction_type"] == "void"
    assert body["voids_transaction_id"] == first
    assert body["card_id"] == tenant.card_id
    assert (body["stamps_delta"], body["points_delta"]) == (-1, 0)
    assert (body["stamps_balance_after"], body["points_balance_after"]) == (1, 0)
    assert body["notes"] == "rung up by mistake"
    assert body["staff_pin_id"] == tenant.pin_id
    assert body["staff_name"] == "Staff"
    assert body["id"] > first
    card = await card_row(database, tenant.card_id)
    assert (card.stamp_count, card.total_stamps_earned) == (1, 1)
    await assert_balances_match_ledger(database, tenant.card_id)


async def test_the_original_entry_is_kept(
    client: httpx.AsyncClient, tenant: Tenant, clock: FixedClock, database: Database
) -> None:
    first = await stamp(client, tenant, clock)
    await void(client, tenant, first)

    async with database.unit_of_work() as session:
        original = await session.get(LoyaltyTransaction, first)
    assert original is not None
    assert (original.transaction_type, original.stamps_delta) == ("stamp_earned", 1)


async def test_void_twice_is_refused(
    client: httpx.AsyncClient, tenant: Tenant, clock: FixedClock, database: Database
) -> None:
    first = await stamp(client, tenant, clock)
    assert (await void(client, tenant, first)).status_code == 201

    details = assert_error(await void(client, tenant, first), 400, "TRANSACTION_NOT_VOIDABLE")

    assert details == {"transaction_id": first, "reason": "already_voided"}
    assert (await card_row(database, tenant.card_id)).stamp_count == 0


async def test_a_void_cannot_be_voided(client: httpx.AsyncClient, tenant: Tenant, clock: FixedClock) -> None:
    first = await stamp(client, tenant, clock)
    the_void = (await void(client, tenant, first)).json()["id"]

    details = assert_error(await void(client, tenant, the_void), 400, "TRANSACTION_NOT_VOIDABLE")

    assert details == {"transaction_id": the_void, "reason": "is_void"}


async def test_void_of_a_spent_stamp_is_refused(
    client: httpx.AsyncClient, tenant: Tenant, clock: FixedClock, database: Database
) -> None:
    first = await stamp(client, tenant, clock)
    await stamp(client, tenant, clock)
    await stamp(client, tenant, clock)
    await post(client, tenant, "/stamp/redeem")

    details = assert_error(await void(client, tenant, first), 400, "TRANSACTION_NOT_VOIDABLE")

    assert details == {"transaction_id": first, "reason": "negative_balance"}
    assert (await card_row(database, tenant.card_id)).stamp_count == 0


async def test_void_of_a_redemption_gives_the_stamps_back(
    client: httpx.AsyncClient, tenant: Tenant, clock: FixedClock, database: Database
) -> None:
    for _ in range(3):
        await stamp(client, tenant, clock)
    redemption = (await post(client, tenant, "/stamp/redeem")).json()["transaction_id"]

    body = (await void(client, tenant, redemption)).json()

    assert (body["stamps_delta"], body["stamps_balance_after"]) == (3, 3)
    card = await card_row(database, tenant.card_id)
    assert (card.stamp_count, card.stamps_redeemed, card.total_stamps_earned) == (3, 0, 3)
    await assert_balances_match_ledger(database, tenant.card_id)


async def test_void_of_points_earned_and_redeemed(
    client: httpx.AsyncClient, database: Database, settings: Settings, clock: FixedClock
) -> None:
    tenant = await make_tenant(
        database, settings, clock, slug="points-void", program_type="points",
        points_rewards=[{"id": 1, "name": "Cake", "points_required": 10}],
    )  # fmt: skip
    earned = (await post(client, tenant, "/points/earn", purchase_amount_cents=2500)).json()["transaction_id"]
    spent = (await post(client, tenant, "/points/redeem", reward_id=1)).json()["transaction_id"]

    refund = (await void(client, tenant, spent)).json()
    assert (refund["points_delta"], refund["points_balance_after"]) == (10, 25)
    assert (refund["reward_id"], refund["reward_description"]) == (1, "Cake")
    cancel = (await void(client, tenant, earned)).json()
    assert (cancel["points_delta"], cancel["points_balance_after"]) == (-25, 0)

    card = await card_row(database, tenant.card_id)
    assert (card.points_balance, card.total_points_earned, card.total_points_redeemed) == (0, 0, 0)
    await assert_balances_match_ledger(database, tenant.card_id)


async def test_void_of_points_already_spent_is_refused(
    client: httpx.AsyncClient, database: Database, settings: Settings, clock: FixedClock
) -> None:
    tenant = await make_tenant(
        database, settings, clock, slug="points-spent", program_type="points",
        points_rewards=[{"id": 1, "name": "Cake", "points_required": 10}],
    )  # fmt: skip
    earned = (await post(client, tenant, "/points/earn", purchase_amount_cents=1000)).json()["transaction_id"]
    await post(client, tenant, "/points/redeem", reward_id=1)

    details = assert_error(await void(client, tenant, earned), 400, "TRANSACTION_NOT_VOIDABLE")

    assert details["reason"] == "negative_balance"


async def test_another_vendors_transaction_is_not_found(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, clock: FixedClock, database: Database
) -> None:
    theirs = await stamp(client, other_tenant, clock)

    details = assert_error(await void(client, tenant, theirs), 404, "TRANSACTION_NOT_FOUND")

    assert details == {"identifier": theirs}
    assert (await card_row(database, other_tenant.card_id)).stamp_count == 1


async def test_unknown_transaction_is_not_found(client: httpx.AsyncClient, tenant: Tenant) -> None:
    assert_error(await void(client, tenant, 987654), 404, "TRANSACTION_NOT_FOUND")


async def test_void_needs_a_good_pin(
    client: httpx.AsyncClient, tenant: Tenant, clock: FixedClock, database: Database
) -> None:
    first = await stamp(client, tenant, clock)

    assert_error(await void(client, tenant, first, staff_pin=None), 403, "STAFF_PIN_REQUIRED")
    details = assert_error(await void(client, tenant, first, staff_pin="0000"), 403, "INVALID_STAFF_PIN")
    assert details["remaining_attempts"] == 4
    assert (await card_row(database, tenant.card_id)).stamp_count == 1


@pytest.mark.parametrize("reason", [None, ""])
async def test_void_needs_a_reason(
    client: httpx.AsyncClient, tenant: Tenant, clock: FixedClock, reason: str | None
) -> None:
    first = await stamp(client, tenant, clock)

    details = assert_error(await void(client, tenant, first, reason=reason), 422, "VALIDATION_ERROR")

    assert any(error["field"] == "reason" for error in details["errors"])


async def test_void_works_while_the_programme_is_paused(
    client: httpx.AsyncClient, tenant: Tenant, clock: FixedClock, database: Database, settings: Settings
) -> None:
    first = await stamp(client, tenant, clock)
    async with database.unit_of_work() as session:
        ctx = Context(session, settings, clock, Actor(vendor_id=tenant.vendor_id))
        await programs.set_program_active(ctx, await programs.get_program(ctx), False)

    response = await void(client, tenant, first)

    assert response.status_code == 201, response.text
    assert (response.json()["transaction_type"], response.json()["stamps_delta"]) == ("void", -1)
    assert (await card_row(database, tenant.card_id)).stamp_count == 0


async def test_a_voided_stamp_still_counts_toward_the_daily_limit(
    client: httpx.AsyncClient, database: Database, settings: Settings, clock: FixedClock
) -> None:
    tenant = await make_tenant(
        database, settings, clock, slug="quota", cooldown_minutes=0, max_daily_stamps=2, require_staff_pin=False
    )
    first = (await post(client, tenant, "/stamp", staff_pin=None)).json()["transaction_id"]
    await post(client, tenant, "/stamp", staff_pin=None)
    assert (await void(client, tenant, first, staff_pin=None)).status_code == 201

    response = await client.post(f"{V}/stamp", json={"card_id": tenant.card_id}, headers=tenant.headers)

    assert_error(response, 429, "DAILY_STAMP_LIMIT")
