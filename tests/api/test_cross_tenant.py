"""The cross-tenant matrix: with vendor B's key, every vendor endpoint that takes an id, a card
reference or a search must treat vendor A's data as non-existent — 404 (exactly like an unknown id)
or an empty page — and change nothing of A's."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.models import Customer, LoyaltyCard, LoyaltyTransaction, StaffPin
from tests.tenants import Tenant, make_tenant

pytestmark = pytest.mark.anyio

V = "/api/v1/vendor/loyalty"
REWARD = [{"id": 1, "name": "Croissant", "points_required": 1}]


async def snapshot(database: Database, tenant: Tenant) -> dict[str, Any]:
    """Everything of A's that an attack through B's key could change."""
    async with database.unit_of_work() as session:
        card = await session.get(LoyaltyCard, tenant.card_id)
        pin = await session.get(StaffPin, tenant.pin_id)
        assert card is not None
        customer = await session.get(Customer, card.customer_id)
        ledger = (
            await session.scalars(select(LoyaltyTransaction.id).where(LoyaltyTransaction.vendor_id == tenant.vendor_id))
        ).all()
        return {
            "card": {c.key: getattr(card, c.key) for c in LoyaltyCard.__table__.columns},
            "pin": {c.key: getattr(pin, c.key) for c in StaffPin.__table__.columns},
            "customer": {c.key: getattr(customer, c.key) for c in Customer.__table__.columns},
            "ledger": list(ledger),
        }


@pytest.fixture
async def victim(
    database: Database, settings: Settings, clock: FixedClock, client: httpx.AsyncClient
) -> tuple[Tenant, int, int]:
    """Vendor A, with one ledger entry on its card; returns (tenant, transaction id, customer id)."""
    a = await make_tenant(
        database, settings, clock, slug="victim", points_rewards=REWARD, require_staff_pin=False, cooldown_minutes=0
    )
    earned = await client.post(
        f"{V}/points/earn", json={"card_id": a.card_id, "purchase_amount_cents": 500}, headers=a.headers
    )
    assert earned.status_code == 201, earned.text
    async with database.unit_of_work() as session:
        card = await session.get(LoyaltyCard, a.card_id)
        assert card is not None
        customer_id = card.customer_id
    return a, earned.json()["transaction_id"], customer_id


@pytest.fixture
async def attacker(database: Database, settings: Settings, clock: FixedClock) -> Tenant:
    return await make_tenant(
        database, settings, clock, slug="attacker", pin="5555", email="b@example.com", points_rewards=REWARD
    )


def card_refs(a: Tenant) -> list[dict[str, Any]]:
    return [{"card_id": a.card_id}, {"qr_code": a.qr_code}, {"card_number": a.card_number}]


async def test_another_vendors_data_is_invisible_and_untouchable(
    client: httpx.AsyncClient, database: Database, victim: tuple[Tenant, int, int], attacker: Tenant
) -> None:
    a, transaction_id, customer_id = victim
    b = attacker
    before = await snapshot(database, a)
    pin = {"staff_pin": b.pin}

    not_found: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", f"{V}/cards/{a.card_id}", None),
        ("GET", f"{V}/cards/{a.card_id}/transactions", None),
        ("POST", f"{V}/cards/{a.card_id}/deactivate", None),
        ("POST", f"{V}/cards/{a.card_id}/reactivate", None),
        ("GET", f"{V}/cards/lookup?qr_code={a.qr_code}", None),
        ("GET", f"{V}/cards/lookup?card_number={a.card_number}", None),
        ("POST", f"{V}/transactions/{transaction_id}/void", {"reason": "steal", **pin}),
        ("PATCH", f"{V}/pins/{a.pin_id}", {"name": "hijacked", "pin": "0000"}),
        ("POST", f"{V}/pins/{a.pin_id}/unlock", None),
        ("DELETE", f"{V}/pins/{a.pin_id}", None),
        ("GET", f"{V}/customers/{customer_id}/export", None),
        ("POST", f"{V}/customers/{customer_id}/erase", None),
    ]
    for ref in card_refs(a):
        not_found += [
            ("POST", f"{V}/stamp", {**ref, **pin}),
            ("POST", f"{V}/stamp/redeem", {**ref, **pin}),
            ("POST", f"{V}/points/earn", {**ref, **pin, "purchase_amount_cents": 100}),
            ("POST", f"{V}/points/redeem", {**ref, **pin, "reward_id": 1}),
        ]
    for method, path, body in not_found:
        response = await client.request(method, path, json=body, headers=b.headers)
        assert response.status_code == 404, f"{method} {path}: {response.status_code} {response.text}"
        assert response.json()["error_code"].endswith("NOT_FOUND"), f"{method} {path}: {response.text}"
        # A route that does not exist also answers 404, naming the path: make sure this one is the domain's.
        assert response.json()["details"].get("identifier") != path.split("?")[0], f"no route {method} {path}"

    empty_pages = [
        f"{V}/cards?search={a.card_number}",
        f"{V}/cards?search=customer@example.com",
        f"{V}/transactions?card_id={a.card_id}",
    ]
    for path in empty_pages:
        response = await client.get(path, headers=b.headers)
        assert response.status_code == 200, f"GET {path}: {response.text}"
        assert response.json()["items"] == [] and response.json()["total"] == 0, f"GET {path}: {response.text}"

    assert await snapshot(database, a) == before


async def test_an_unknown_id_and_another_vendors_id_answer_alike(
    client: httpx.AsyncClient, victim: tuple[Tenant, int, int], attacker: Tenant
) -> None:
    a, _, _ = victim
    theirs = await client.get(f"{V}/cards/{a.card_id}", headers=attacker.headers)
    unknown = await client.get(f"{V}/cards/999999", headers=attacker.headers)
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json()["error_code"] == unknown.json()["error_code"]


async def test_another_vendors_staff_pin_id_approves_nothing(
    client: httpx.AsyncClient, victim: tuple[Tenant, int, int], attacker: Tenant
) -> None:
    a, _, _ = victim
    b = attacker
    response = await client.post(
        f"{V}/stamp", json={"card_id": b.card_id, "staff_pin": a.pin, "staff_pin_id": a.pin_id}, headers=b.headers
    )
    assert response.status_code == 403
    assert response.json()["error_code"] == "INVALID_STAFF_PIN"
