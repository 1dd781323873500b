"""The first signal that something basic is broken: on each test database, the app answers healthy and a
counter's stamp goes through the whole stack (key, PIN, card, ledger) and shows on the customer's card."""

from __future__ import annotations

import httpx
import pytest

from tests.tenants import Tenant

pytestmark = pytest.mark.anyio


async def test_the_app_is_healthy_and_a_stamp_reaches_the_customers_card(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    health = await client.get("/api/v1/loyalty/health")
    assert (health.status_code, health.json()) == (200, {"status": "ok", "database": "ok", "schema": "ok"})

    stamp = await client.post(
        "/api/v1/vendor/loyalty/stamp",
        json={"card_id": tenant.card_id, "staff_pin": tenant.pin},
        headers=tenant.headers,
    )
    assert stamp.status_code == 201, stamp.text
    assert (stamp.json()["stamp_count"], stamp.json()["stamps_until_reward"]) == (1, 2)

    card = (await client.get(f"/api/v1/loyalty/cards/{tenant.card_token}")).json()
    assert card["stamp_count"] == 1
    assert [(entry["transaction_type"], entry["stamps_delta"]) for entry in card["transactions"]] == [
        ("stamp_earned", 1)
    ]
