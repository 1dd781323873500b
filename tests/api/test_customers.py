"""GDPR over HTTP: a customer's data exported, or erased while the ledger stays."""

from __future__ import annotations

import pytest

from tests.api.conftest import bearer
from tests.api.test_vendor_cards import seed_points

pytestmark = pytest.mark.anyio

VENDOR = "/api/v1/vendor/loyalty"


async def _customer_id(client, tenant) -> int:
    card = (await client.get(f"{VENDOR}/cards/{tenant.card_id}", headers=tenant.headers)).json()
    return card["customer"]["id"]  # type: ignore[no-any-return]


async def test_export_contains_the_customers_cards_and_transactions(client, tenant, database, settings, clock):
    await seed_points(database, settings, clock, tenant, 500, 700)
    customer_id = await _customer_id(client, tenant)
    response = await client.get(f"{VENDOR}/customers/{customer_id}/export", headers=tenant.headers)
    assert response.status_code == 200
    export = response.json()
    assert export["customer"]["id"] == customer_id
    assert export["customer"]["email"] == "customer@example.com"
    assert export["customer"]["name"] == "Customer"
    assert [card["id"] for card in export["cards"]] == [tenant.card_id]
    assert export["cards"][0]["card_number"] == tenant.card_number
    assert [t["purchase_amount_cents"] for t in export["transactions"]] == [500, 700]
    assert all(t["card_id"] == tenant.card_id for t in export["transactions"])
    assert "10.0.0.1" not in response.text and "client_ip" not in response.text


async def test_export_of_a_customer_without_transactions(client, tenant):
    customer_id = await _customer_id(client, tenant)
    export = (await client.get(f"{VENDOR}/customers/{customer_id}/export", headers=tenant.headers)).json()
    assert len(export["cards"]) == 1 and export["transactions"] == []


async def test_erase_pseudonymises_and_keeps_the_ledger(client, tenant, database, settings, clock):
    await seed_points(database, settings, clock, tenant, 500, 700, 900)
    customer_id = await _customer_id(client, tenant)
    response = await client.post(f"{VENDOR}/customers/{customer_id}/erase", headers=tenant.headers)
    assert response.status_code == 204
    assert response.content == b""

    for term in ("customer@example.com", "customer@", "Customer"):
        found = (await client.get(f"{VENDOR}/cards", params={"search": term}, headers=tenant.headers)).json()
        assert found["total"] == 0, term
    card = (await client.get(f"{VENDOR}/cards/{tenant.card_id}", headers=tenant.headers)).json()
    assert card["customer"]["email"] != "customer@example.com"
    assert "customer" not in card["customer"]["email"]
    assert card["customer"]["name"] is None
    assert card["is_active"] is False
    assert card["points_balance"] == 21  # the balances, like the ledger, stay

    history = (await client.get(f"{VENDOR}/cards/{tenant.card_id}/transactions", headers=tenant.headers)).json()
    assert history["total"] == 3
    export = (await client.get(f"{VENDOR}/customers/{customer_id}/export", headers=tenant.headers)).json()
    assert export["customer"]["erased_at"] is not None
    assert export["customer"]["name"] is None and export["customer"]["phone"] is None
    assert "customer@example.com" not in str(export)
    assert len(export["transactions"]) == 3


async def test_erased_customer_may_enrol_again_as_a_new_customer(client, tenant):
    customer_id = await _customer_id(client, tenant)
    await client.post(f"{VENDOR}/customers/{customer_id}/erase", headers=tenant.headers)
    again = await client.post(f"{VENDOR}/cards", json={"email": "customer@example.com"}, headers=tenant.headers)
    assert again.status_code == 201
    assert again.json()["customer"]["id"] != customer_id


async def test_erase_twice_is_harmless(client, tenant):
    customer_id = await _customer_id(client, tenant)
    url = f"{VENDOR}/customers/{customer_id}/erase"
    assert (await client.post(url, headers=tenant.headers)).status_code == 204
    assert (await client.post(url, headers=tenant.headers)).status_code == 204


async def test_another_vendors_customer_is_404(client, tenant, other_tenant):
    foreign = await _customer_id(client, other_tenant)
    for method, url in (
        ("GET", f"{VENDOR}/customers/{foreign}/export"),
        ("POST", f"{VENDOR}/customers/{foreign}/erase"),
        ("GET", f"{VENDOR}/customers/999999/export"),
    ):
        response = await client.request(method, url, headers=tenant.headers)
        assert response.status_code == 404, url
        assert response.json()["error_code"] == "NOT_FOUND"
        assert response.json()["details"]["identifier"] in (foreign, 999999)
    untouched = (await client.get(f"{VENDOR}/cards/{other_tenant.card_id}", headers=other_tenant.headers)).json()
    assert untouched["customer"]["email"] == "other@example.com" and untouched["is_active"] is True


async def test_customer_routes_need_a_vendor_key(client, admin_key, tenant):
    customer_id = await _customer_id(client, tenant)
    for method, url in (
        ("GET", f"{VENDOR}/customers/{customer_id}/export"),
        ("POST", f"{VENDOR}/customers/{customer_id}/erase"),
    ):
        assert (await client.request(method, url)).status_code == 401
        forbidden = await client.request(method, url, headers=bearer(admin_key))
        assert forbidden.status_code == 403
        assert forbidden.json()["error_code"] == "FORBIDDEN"
    assert (await client.get(f"{VENDOR}/customers/0/export", headers=tenant.headers)).status_code == 422
