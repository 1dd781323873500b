"""POST /points/earn and /points/redeem: points from purchases, spent on the catalogue."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from loyalty import i18n
from loyalty.api.schemas import operations
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.services import cards, programs
from loyalty.services.context import Actor, Context
from tests.api.helpers import assert_error
from tests.services.helpers import card as card_row
from tests.services.helpers import ledger
from tests.tenants import Tenant, make_tenant

pytestmark = pytest.mark.anyio

V = "/api/v1/vendor/loyalty"
CATALOGUE = [
    {"id": 1, "name": "Coffee", "points_required": 10},
    {"id": 2, "name": "Retired mug", "points_required": 5, "is_active": False},
]


def _json(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in payload.items() if v is not None}


async def earn(client: httpx.AsyncClient, tenant: Tenant, cents: object = 1000, **body: Any) -> httpx.Response:
    payload: dict[str, Any] = {"card_id": tenant.card_id, "staff_pin": tenant.pin, "purchase_amount_cents": cents}
    payload.update(body)
    headers = {**tenant.headers, **payload.pop("headers", {})}
    return await client.post(f"{V}/points/earn", json=_json(payload), headers=headers)


async def spend(client: httpx.AsyncClient, tenant: Tenant, reward_id: int | None = 1, **body: Any) -> httpx.Response:
    payload: dict[str, Any] = {"card_id": tenant.card_id, "staff_pin": tenant.pin, "reward_id": reward_id}
    payload.update(body)
    headers = {**tenant.headers, **payload.pop("headers", {})}
    return await client.post(f"{V}/points/redeem", json=_json(payload), headers=headers)


@pytest.fixture
async def shop(database: Database, settings: Settings, clock: FixedClock) -> Tenant:
    """A points programme at 1.5 points per euro with a small catalogue."""
    return await make_tenant(
        database, settings, clock, slug="points-shop", program_type="points", points_per_euro="1.5",
        points_rewards=CATALOGUE,
    )  # fmt: skip


# --- earn ------------------------------------------------------------------------------------------


async def test_earn_floors_cents_times_rate(client: httpx.AsyncClient, shop: Tenant, database: Database) -> None:
    response = await earn(client, shop, 1999, order_reference="A-17", staff_pin_id=shop.pin_id)

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["points_delta"] == 29  # floor(1999 × 1.5 / 100) = floor(29.985)
    assert body["points_balance"] == 29
    assert body["card_id"] == shop.card_id
    assert body["card_number"] == shop.card_number
    assert body["reward_id"] is None
    assert body["reward_description"] is None
    assert body["message"] == "29 points added"
    [entry] = await ledger(database, shop.card_id)
    assert entry.id == body["transaction_id"]
    assert (entry.transaction_type, entry.points_delta, entry.points_balance_after) == ("points_earned", 29, 29)
    assert (entry.purchase_amount_cents, entry.order_reference, entry.staff_pin_id) == (1999, "A-17", shop.pin_id)
    card = await card_row(database, shop.card_id)
    assert (card.points_balance, card.total_points_earned) == (29, 29)


@pytest.mark.parametrize(
    ("cents", "rate", "points"),
    [
        (1999, "1.5", 29),
        (100, "1", 1),
        (99, "1", 0),
        (12345, "0", 0),
        (1, "100", 1),
        (250, "0.3333", 0),
        (301, "2.5", 7),
    ],
)
async def test_points_formula(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    clock: FixedClock,
    cents: int,
    rate: str,
    points: int,
) -> None:
    tenant = await make_tenant(database, settings, clock, slug="rate-shop", points_per_euro=rate)

    body = (await earn(client, tenant, cents)).json()

    assert body["points_delta"] == points
    assert body["points_balance"] == points


async def test_earn_accumulates(client: httpx.AsyncClient, shop: Tenant) -> None:
    await earn(client, shop, 1000)
    body = (await earn(client, shop, 1000)).json()

    assert body["points_balance"] == 30


@pytest.mark.parametrize("cents", [0, -5, None, "ten", 100_000_001])
async def test_purchase_amount_must_be_positive(
    client: httpx.AsyncClient, shop: Tenant, database: Database, cents: object
) -> None:
    details = assert_error(await earn(client, shop, cents), 422, "VALIDATION_ERROR")

    assert any(error["field"] == "purchase_amount_cents" for error in details["errors"])
    assert await ledger(database, shop.card_id) == []


@pytest.mark.parametrize(
    "reference", [{"card_id": None}, {"qr_code": "abc"}, {"card_id": None, "qr_code": "abc", "card_number": "42"}]
)
async def test_none_or_several_card_references_are_422(
    client: httpx.AsyncClient, shop: Tenant, reference: dict[str, Any]
) -> None:
    assert_error(await earn(client, shop, **reference), 422, "VALIDATION_ERROR")
    assert_error(await spend(client, shop, **reference), 422, "VALIDATION_ERROR")


async def test_earn_by_qr_code_and_card_number(client: httpx.AsyncClient, shop: Tenant, database: Database) -> None:
    by_qr = await earn(client, shop, card_id=None, qr_code=shop.qr_code)
    by_number = await earn(client, shop, card_id=None, card_number=shop.card_number)

    assert (by_qr.status_code, by_number.status_code) == (201, 201), by_qr.text + by_number.text
    assert [(a.json()["card_id"], a.json()["points_balance"]) for a in (by_qr, by_number)] == [
        (shop.card_id, 15),  # floor(1000 × 1.5 / 100)
        (shop.card_id, 30),
    ]
    assert (await card_row(database, shop.card_id)).points_balance == 30


async def test_stamps_programme_does_not_collect_points(
    client: httpx.AsyncClient, database: Database, settings: Settings, clock: FixedClock
) -> None:
    tenant = await make_tenant(database, settings, clock, slug="stamps-only", program_type="stamps")

    details = assert_error(await earn(client, tenant), 400, "POINTS_NOT_ENABLED")
    assert details["program_id"] == tenant.program_id
    assert_error(await spend(client, tenant), 400, "POINTS_NOT_ENABLED")


async def test_hybrid_programme_collects_points(client: httpx.AsyncClient, tenant: Tenant, database: Database) -> None:
    response = await earn(client, tenant)  # 10 € at the tenant's 1 point per euro

    assert response.status_code == 201, response.text
    assert (response.json()["points_delta"], response.json()["points_balance"]) == (10, 10)
    card = await card_row(database, tenant.card_id)
    assert (card.points_balance, card.stamp_count) == (10, 0)  # points only: no stamp comes with them


async def test_points_check_the_pin(client: httpx.AsyncClient, shop: Tenant) -> None:
    assert_error(await earn(client, shop, staff_pin=None), 403, "STAFF_PIN_REQUIRED")
    assert assert_error(await earn(client, shop, staff_pin="0000"), 403, "INVALID_STAFF_PIN")["remaining_attempts"] == 4
    assert (
        assert_error(await spend(client, shop, staff_pin="0000"), 403, "INVALID_STAFF_PIN")["remaining_attempts"] == 3
    )
    assert_error(await spend(client, shop, staff_pin=None), 403, "STAFF_PIN_REQUIRED")


async def test_points_lock_after_five_failures(client: httpx.AsyncClient, shop: Tenant) -> None:
    for _ in range(5):
        await earn(client, shop, staff_pin="0000", staff_pin_id=shop.pin_id)

    assert_error(await earn(client, shop, staff_pin_id=shop.pin_id), 423, "STAFF_PIN_LOCKED")
    assert_error(await spend(client, shop), 423, "STAFF_PIN_LOCKED")


async def deactivate(database: Database, settings: Settings, clock: FixedClock, tenant: Tenant, *, card: bool) -> None:
    async with database.unit_of_work() as session:
        ctx = Context(session, settings, clock, Actor(vendor_id=tenant.vendor_id))
        if card:
            await cards.set_card_active(ctx, tenant.card_id, False)
        else:
            await programs.set_program_active(ctx, await programs.get_program(ctx), False)


async def test_inactive_programme_refuses_points(
    client: httpx.AsyncClient, shop: Tenant, database: Database, settings: Settings, clock: FixedClock
) -> None:
    await deactivate(database, settings, clock, shop, card=False)

    assert_error(await earn(client, shop), 400, "LOYALTY_PROGRAM_INACTIVE")
    assert_error(await spend(client, shop), 400, "LOYALTY_PROGRAM_INACTIVE")


async def test_inactive_card_refuses_points(
    client: httpx.AsyncClient, shop: Tenant, database: Database, settings: Settings, clock: FixedClock
) -> None:
    await earn(client, shop, 2000)
    await deactivate(database, settings, clock, shop, card=True)

    assert_error(await earn(client, shop), 400, "LOYALTY_CARD_INACTIVE")
    assert_error(await spend(client, shop), 400, "LOYALTY_CARD_INACTIVE")


async def test_unknown_or_foreign_card_is_404(client: httpx.AsyncClient, shop: Tenant, other_tenant: Tenant) -> None:
    for reference in ({"card_id": 424242}, {"card_id": other_tenant.card_id}, {"card_id": None, "qr_code": "zz"}):
        assert_error(await earn(client, shop, **reference), 404, "LOYALTY_CARD_NOT_FOUND")
        assert_error(await spend(client, shop, **reference), 404, "LOYALTY_CARD_NOT_FOUND")


# --- redeem ----------------------------------------------------------------------------------------


async def test_redeem_spends_the_rewards_points(client: httpx.AsyncClient, shop: Tenant, database: Database) -> None:
    await earn(client, shop, 1000)  # 15 points

    response = await spend(client, shop, 1, notes="takeaway")

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["points_delta"] == -10
    assert body["points_balance"] == 5
    assert body["reward_id"] == 1
    assert body["reward_description"] == "Coffee"
    assert body["message"] == "Reward redeemed: Coffee"
    entry = (await ledger(database, shop.card_id))[-1]
    assert entry.id == body["transaction_id"]
    assert (entry.transaction_type, entry.points_delta, entry.points_balance_after) == ("points_redeemed", -10, 5)
    assert (entry.reward_id, entry.reward_description, entry.notes) == (1, "Coffee", "takeaway")
    card = await card_row(database, shop.card_id)
    assert (card.points_balance, card.total_points_earned, card.total_points_redeemed) == (5, 15, 10)


async def test_redeem_without_enough_points(client: httpx.AsyncClient, shop: Tenant, database: Database) -> None:
    await earn(client, shop, 600)  # 9 points

    details = assert_error(await spend(client, shop, 1), 400, "INSUFFICIENT_POINTS")

    assert details == {"current_points": 9, "required_points": 10}
    assert (await card_row(database, shop.card_id)).points_balance == 9


@pytest.mark.parametrize("reward_id", [2, 99], ids=["inactive", "unknown"])
async def test_invalid_reward(client: httpx.AsyncClient, shop: Tenant, reward_id: int) -> None:
    await earn(client, shop, 5000)

    details = assert_error(await spend(client, shop, reward_id), 400, "INVALID_REWARD")

    assert details == {"reward_id": reward_id}


async def test_reward_id_is_required(client: httpx.AsyncClient, shop: Tenant) -> None:
    assert_error(await spend(client, shop, None), 422, "VALIDATION_ERROR")


async def test_balance_can_be_spent_to_zero_not_below(client: httpx.AsyncClient, shop: Tenant) -> None:
    await earn(client, shop, 1334)  # floor(20.01) = 20 points

    assert (await spend(client, shop)).json()["points_balance"] == 10
    assert (await spend(client, shop)).json()["points_balance"] == 0
    assert_error(await spend(client, shop), 400, "INSUFFICIENT_POINTS")


# --- localisation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["fr", "de", "lb"])
async def test_points_messages_are_localised(client: httpx.AsyncClient, shop: Tenant, language: str) -> None:
    earned = await earn(client, shop, 1000, headers={"Accept-Language": language})
    assert earned.json()["message"] == i18n.translate(operations.POINTS_ADDED, language, points=15)

    spent = await spend(client, shop, headers={"Accept-Language": language})
    assert spent.json()["message"] == i18n.translate(operations.REWARD_REDEEMED_NAMED, language, reward="Coffee")

    refused = await spend(client, shop, 99, headers={"Accept-Language": language})
    assert refused.json()["error_code"] == "INVALID_REWARD"


# --- reward ids are never reused -------------------------------------------------------------------


async def test_a_new_reward_never_takes_a_removed_rewards_id(
    client: httpx.AsyncClient, database: Database, settings: Settings, clock: FixedClock
) -> None:
    """A peer system's fault: the new first reward took id 1, and a terminal that cached `reward_id` 1
    spent 400 points on a birthday cake instead of 50 on a croissant."""
    bakery = await make_tenant(
        database, settings, clock, slug="id-bakery", program_type="points",
        points_rewards=[{"name": "Croissant", "points_required": 50}],
    )  # fmt: skip
    assert (await earn(client, bakery, cents=50_000)).status_code == 201
    assert (await spend(client, bakery, reward_id=1)).status_code == 201

    patched = await client.patch(
        f"{V}/program",
        json={"points_rewards": [{"name": "Birthday cake", "points_required": 400}]},
        headers=bakery.headers,
    )
    cached = await spend(client, bakery, reward_id=1)
    reused = await client.patch(
        f"{V}/program",
        json={"points_rewards": [{"id": 1, "name": "Birthday cake", "points_required": 400}]},
        headers=bakery.headers,
    )

    assert [(r["id"], r["name"]) for r in patched.json()["points_rewards"]] == [(2, "Birthday cake")]
    assert assert_error(cached, 400, "INVALID_REWARD")["reward_id"] == 1
    assert assert_error(reused, 422, "VALIDATION_ERROR")["errors"][0]["field"] == "points_rewards"
    assert (await spend(client, bakery, reward_id=2)).status_code == 201  # the cake, by its own id


# --- a receipt earns once ------------------------------------------------------------------------


async def test_a_receipt_earns_once_per_vendor_until_its_entry_is_voided(
    client: httpx.AsyncClient,
    shop: Tenant,
    other_tenant: Tenant,
    database: Database,
    settings: Settings,
    clock: FixedClock,
) -> None:
    """A peer system's fault: the same till receipt sent twice (no Idempotency-Key) credited twice."""
    second_card = (await client.post(f"{V}/cards", json={"email": "b@example.com"}, headers=shop.headers)).json()

    first = await earn(client, shop, cents=1000, order_reference="POS-0001")
    again = await earn(client, shop, cents=1000, order_reference="POS-0001")
    on_another_card = await earn(client, shop, cents=1000, order_reference="POS-0001", card_id=second_card["id"])
    at_another_vendor = await earn(client, other_tenant, cents=1000, order_reference="POS-0001")

    assert first.status_code == 201 and at_another_vendor.status_code == 201
    for refused in (again, on_another_card):
        details = assert_error(refused, 409, "ORDER_ALREADY_EARNED")
        assert details == {"order_reference": "POS-0001", "transaction_id": first.json()["transaction_id"]}
    assert (await card_row(database, shop.card_id)).points_balance == 15  # credited once (1.5 points per euro)

    void = await client.post(
        f"{V}/transactions/{first.json()['transaction_id']}/void",
        json={"reason": "earned on the wrong card", "staff_pin": shop.pin},
        headers=shop.headers,
    )
    moved = await earn(client, shop, cents=1000, order_reference="POS-0001", card_id=second_card["id"])
    assert void.status_code == 201 and moved.status_code == 201  # the void freed the receipt


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # the unique index decides the race
async def test_the_same_receipt_sent_twice_at_once_earns_once(
    client: httpx.AsyncClient, shop: Tenant, database: Database
) -> None:
    answers = await asyncio.gather(*(earn(client, shop, cents=1000, order_reference="POS-RACE") for _ in range(2)))

    assert sorted(a.status_code for a in answers) == [201, 409]
    [refused] = [a for a in answers if a.status_code == 409]
    assert_error(refused, 409, "ORDER_ALREADY_EARNED")
    assert [entry.points_delta for entry in await ledger(database, shop.card_id)] == [15]
