"""The public API (no key): a programme's page, self-enrolment, a card's page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from loyalty.app import create_app
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.models import Customer, LoyaltyCard
from loyalty.services import programs
from loyalty.services.context import Actor, Context
from tests.api.test_vendor_cards import seed_points
from tests.fixtures import test_settings
from tests.tenants import Tenant, make_tenant

pytestmark = pytest.mark.anyio

PUBLIC = "/api/v1/loyalty"
REWARDS = [
    {"id": 1, "name": "Free coffee", "points_required": 50},
    {"id": 2, "name": "Retired mug", "points_required": 500, "is_active": False},
]


@pytest.fixture
async def shop(database: Database, settings: Settings, clock: FixedClock) -> Tenant:
    """A hybrid programme with a stamp reward and a points catalogue (one reward retired)."""
    return await make_tenant(
        database,
        settings,
        clock,
        slug="corner-shop",
        stamps_reward_description="A free cappuccino",
        points_rewards=REWARDS,
        card_name="Corner Card",
        card_color="#112233",
    )


async def _deactivate(database: Database, settings: Settings, clock: FixedClock, tenant: Tenant) -> None:
    async with database.unit_of_work() as session:
        ctx = Context(session, settings, clock, Actor(vendor_id=tenant.vendor_id))
        await programs.set_program_active(ctx, await programs.get_program(ctx), False)


async def _enroll(
    client: httpx.AsyncClient, slug: str, email: str, headers: dict[str, str] | None = None, **fields: Any
) -> httpx.Response:
    return await client.post(f"{PUBLIC}/programs/{slug}/enroll", json={"email": email, **fields}, headers=headers)


# --- programme page --------------------------------------------------------------------------------


async def test_public_programme(client: httpx.AsyncClient, shop: Tenant) -> None:
    response = await client.get(f"{PUBLIC}/programs/corner-shop")
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "corner-shop card"
    assert body["vendor_slug"] == "corner-shop" and body["vendor_name"] == "Corner-Shop"
    assert body["card_name"] == "Corner Card" and body["card_color"] == "#112233"
    assert body["program_type"] == "hybrid"
    assert body["points_per_euro"] == 1
    assert body["stamps_target"] == 3
    assert body["stamps_reward_description"] == "A free cappuccino"
    assert body["points_rewards"] == [{"id": 1, "name": "Free coffee", "points_required": 50}]
    for private in ("pin", "staff", "total_cards", "stamps_issued", "cooldown", "require_staff_pin", "vendor_id"):
        assert private not in response.text


async def test_unknown_programme_is_404(client: httpx.AsyncClient, shop: Tenant) -> None:
    response = await client.get(f"{PUBLIC}/programs/no-such-shop")
    assert response.status_code == 404
    body = response.json()
    assert body["error_code"] == "LOYALTY_PROGRAM_NOT_FOUND"
    assert body["details"]["identifier"] == "no-such-shop"


async def test_inactive_programme_is_404(
    client: httpx.AsyncClient, shop: Tenant, database: Database, settings: Settings, clock: FixedClock
) -> None:
    await _deactivate(database, settings, clock, shop)
    page = await client.get(f"{PUBLIC}/programs/corner-shop")
    assert page.status_code == 404
    assert page.json()["error_code"] == "LOYALTY_PROGRAM_NOT_FOUND"
    enrol = await _enroll(client, "corner-shop", "late@example.com")
    assert enrol.status_code == 404
    assert enrol.json()["error_code"] == "LOYALTY_PROGRAM_NOT_FOUND"


# --- enrolment -------------------------------------------------------------------------------------


async def test_enroll(client: httpx.AsyncClient, shop: Tenant) -> None:
    response = await _enroll(client, "corner-shop", "new@example.com", name="Nina", locale="lu", marketing_consent=True)
    assert response.status_code == 201
    card = response.json()
    assert card["card_number"].isdigit() and len(card["card_number"]) == 16
    assert card["card_number_display"].replace(" ", "") == card["card_number"]
    assert len(card["card_token"]) >= 22 and len(card["qr_code"]) >= 22
    assert card["card_token"] != card["qr_code"]
    assert card["name"] == "corner-shop card" and card["card_name"] == "Corner Card"
    assert card["stamps_target"] == 3 and card["stamp_count"] == 0 and card["points_balance"] == 0
    assert card["stamps_reward_description"] == "A free cappuccino"
    assert card["points_rewards"] == [{"id": 1, "name": "Free coffee", "points_required": 50}]
    assert card["enrolled_at"].startswith("2026-11-21T09:00:00")
    assert card["transactions"] == []
    page = await client.get(f"{PUBLIC}/cards/{card['card_token']}")
    assert page.status_code == 200
    assert page.json() == card


@pytest.mark.parametrize("again", ["Customer@Example.com", "  CUSTOMER@example.COM ", "customer@EXAMPLE.com"])
async def test_enrolling_twice_is_409_and_reveals_nothing(client: httpx.AsyncClient, shop: Tenant, again: str) -> None:
    response = await _enroll(client, "corner-shop", again)
    assert response.status_code == 409
    body = response.json()
    assert body["error_code"] == "LOYALTY_CARD_ALREADY_EXISTS"
    assert body["details"] == {}
    assert set(body) == {"error_code", "message", "details"}
    for secret in (shop.card_number, shop.qr_code, shop.card_token, str(shop.card_id)):
        assert secret not in response.text


async def test_same_email_enrolls_with_another_vendor(
    client: httpx.AsyncClient, shop: Tenant, tenant: Tenant, database: Database
) -> None:
    here = await _enroll(client, "corner-shop", "both@example.com")
    there = await _enroll(client, tenant.slug, "both@example.com")

    assert (here.status_code, there.status_code) == (201, 201), here.text + there.text
    assert (here.json()["vendor_name"], there.json()["vendor_name"]) == ("Corner-Shop", "Cafe-One")
    async with database.unit_of_work() as session:  # each vendor has a customer of its own, with its card
        owners = (
            await session.execute(
                select(Customer.vendor_id, LoyaltyCard.vendor_id)
                .join(LoyaltyCard, LoyaltyCard.customer_id == Customer.id)
                .where(Customer.email_normalised == "both@example.com")
                .order_by(Customer.vendor_id)
            )
        ).all()
    assert sorted(tuple(row) for row in owners) == sorted([(tenant.vendor_id,) * 2, (shop.vendor_id,) * 2])


@pytest.mark.parametrize(
    "body",
    [{}, {"email": "nope"}, {"email": "a@example.com", "locale": "klingon"}, {"email": "a@example.com", "name": 5}],
)
async def test_enrolment_is_validated(client: httpx.AsyncClient, shop: Tenant, body: dict[str, Any]) -> None:
    response = await client.post(f"{PUBLIC}/programs/corner-shop/enroll", json=body)
    assert response.status_code == 422
    assert response.json()["error_code"] == "VALIDATION_ERROR"


async def test_enrolment_honours_idempotency_key(client: httpx.AsyncClient, shop: Tenant) -> None:
    headers = {"Idempotency-Key": "signup-1"}
    first = await _enroll(client, "corner-shop", "idem@example.com", headers=headers)
    second = await _enroll(client, "corner-shop", "idem@example.com", headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers.get("Idempotent-Replayed") == "true"
    different = await _enroll(client, "corner-shop", "someone-else@example.com", headers=headers)
    assert different.status_code == 409
    assert different.json()["error_code"] == "IDEMPOTENCY_KEY_REUSED"


async def test_enrolment_is_rate_limited_per_client_ip(
    database_url: str, database: Database, clock: FixedClock, shop: Tenant
) -> None:
    settings = test_settings(database_url, enroll_rate_limit=2, enroll_rate_window_seconds=60, trust_forwarded_for=True)
    app = create_app(settings, clock=clock, database=database)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    ip_a, ip_b = {"X-Forwarded-For": "203.0.113.7"}, {"X-Forwarded-For": "198.51.100.9"}
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await _enroll(client, "corner-shop", "one@example.com", headers=ip_a)).status_code == 201
        # a failed attempt still uses up the allowance
        assert (await _enroll(client, "corner-shop", "one@example.com", headers=ip_a)).status_code == 409
        limited = await _enroll(client, "corner-shop", "two@example.com", headers=ip_a)
        assert limited.status_code == 429
        assert limited.json()["error_code"] == "RATE_LIMITED"
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
        # another client is not affected
        assert (await _enroll(client, "corner-shop", "three@example.com", headers=ip_b)).status_code == 201
        # the refused enrolment created nothing: after the window it goes through
        clock.advance(timedelta(seconds=61))
        assert (await _enroll(client, "corner-shop", "two@example.com", headers=ip_a)).status_code == 201


async def test_rate_limit_counts_attempts_on_unknown_programmes(
    database_url: str, database: Database, clock: FixedClock, shop: Tenant
) -> None:
    settings = test_settings(database_url, enroll_rate_limit=1)
    app = create_app(settings, clock=clock, database=database)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await _enroll(client, "no-such-shop", "x@example.com")).status_code == 404
        response = await _enroll(client, "corner-shop", "x@example.com")
        assert response.status_code == 429
        assert "Retry-After" in response.headers


# --- card page -------------------------------------------------------------------------------------


async def test_card_page_shows_balances_and_last_10_transactions(
    client: httpx.AsyncClient, shop: Tenant, database: Database, settings: Settings, clock: FixedClock
) -> None:
    amounts = [100 * (i + 1) for i in range(12)]  # 1, 2, ... 12 points, one minute apart
    await seed_points(database, settings, clock, shop, *amounts)
    response = await client.get(f"{PUBLIC}/cards/{shop.card_token}")
    assert response.status_code == 200
    card = response.json()
    assert card["card_number"] == shop.card_number and card["qr_code"] == shop.qr_code
    assert card["card_token"] == shop.card_token
    assert card["points_balance"] == card["total_points_earned"] == sum(range(1, 13))
    assert card["name"] == "corner-shop card" and card["stamps_target"] == 3
    assert card["stamps_until_reward"] == 3
    assert card["is_active"] is True
    history = card["transactions"]
    assert len(history) == 10
    assert [t["purchase_amount_cents"] for t in history] == amounts[::-1][:10]
    assert history[0]["points_balance_after"] == 78 and history[0]["transaction_type"] == "points_earned"
    times = [t["transaction_at"] for t in history]
    assert times == sorted(times, reverse=True)
    for private in ("staff", "order-", "notes", "client_ip", "customer@example.com", '"email"'):
        assert private not in response.text


async def test_unknown_card_token_is_404(client: httpx.AsyncClient, shop: Tenant) -> None:
    response = await client.get(f"{PUBLIC}/cards/not-a-token")
    assert response.status_code == 404
    assert response.json()["error_code"] == "LOYALTY_CARD_NOT_FOUND"
    assert response.json()["details"]["identifier"] == "not-a-token"
    # a card number or QR payload never opens the page
    assert (await client.get(f"{PUBLIC}/cards/{shop.card_number}")).status_code == 404
    assert (await client.get(f"{PUBLIC}/cards/{shop.qr_code}")).status_code == 404


async def test_card_page_stays_readable_when_the_programme_pauses(
    client: httpx.AsyncClient, shop: Tenant, database: Database, settings: Settings, clock: FixedClock
) -> None:
    await _deactivate(database, settings, clock, shop)
    response = await client.get(f"{PUBLIC}/cards/{shop.card_token}")
    assert response.status_code == 200
    assert response.json()["card_number"] == shop.card_number


async def test_public_messages_follow_accept_language(client: httpx.AsyncClient, shop: Tenant) -> None:
    english = await client.get(f"{PUBLIC}/programs/nowhere")
    german = await client.get(f"{PUBLIC}/programs/nowhere", headers={"Accept-Language": "de"})
    assert english.json()["error_code"] == german.json()["error_code"] == "LOYALTY_PROGRAM_NOT_FOUND"
