"""GDPR over HTTP: a customer's data exported, or erased while the ledger stays."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import JSON, String, Text, cast, func, select

from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.models import Base, IdempotencyRecord
from loyalty.services import idempotency
from tests.api.helpers import assert_error, bearer
from tests.api.test_vendor_cards import seed_points
from tests.tenants import Tenant

pytestmark = pytest.mark.anyio

VENDOR = "/api/v1/vendor/loyalty"


async def _customer_id(client: httpx.AsyncClient, tenant: Tenant) -> int:
    card = (await client.get(f"{VENDOR}/cards/{tenant.card_id}", headers=tenant.headers)).json()
    return card["customer"]["id"]  # type: ignore[no-any-return]


async def test_export_contains_the_customers_cards_and_transactions(
    client: httpx.AsyncClient, tenant: Tenant, database: Database, settings: Settings, clock: FixedClock
) -> None:
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


async def test_export_of_a_customer_without_transactions(client: httpx.AsyncClient, tenant: Tenant) -> None:
    customer_id = await _customer_id(client, tenant)
    export = (await client.get(f"{VENDOR}/customers/{customer_id}/export", headers=tenant.headers)).json()
    assert len(export["cards"]) == 1 and export["transactions"] == []
    assert export["apple_devices"] == [] and export["google_objects"] == []


async def test_erase_pseudonymises_and_keeps_the_ledger(
    client: httpx.AsyncClient, tenant: Tenant, database: Database, settings: Settings, clock: FixedClock
) -> None:
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


async def test_erased_customer_may_enrol_again_as_a_new_customer(client: httpx.AsyncClient, tenant: Tenant) -> None:
    customer_id = await _customer_id(client, tenant)
    await client.post(f"{VENDOR}/customers/{customer_id}/erase", headers=tenant.headers)
    again = await client.post(f"{VENDOR}/cards", json={"email": "customer@example.com"}, headers=tenant.headers)
    assert again.status_code == 201
    assert again.json()["customer"]["id"] != customer_id


async def test_erase_twice_is_harmless(client: httpx.AsyncClient, tenant: Tenant) -> None:
    customer_id = await _customer_id(client, tenant)
    url = f"{VENDOR}/customers/{customer_id}/erase"
    assert (await client.post(url, headers=tenant.headers)).status_code == 204
    assert (await client.post(url, headers=tenant.headers)).status_code == 204


async def test_another_vendors_customer_is_404(client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant) -> None:
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


async def test_customer_routes_need_a_vendor_key(client: httpx.AsyncClient, admin_key: str, tenant: Tenant) -> None:
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


# --- erasure leaves nothing behind ---------------------------------------------------------------

JEANNE = {"email": "jeanne.muller@example.org", "name": "Jeanne Muller", "phone": "+352 621 000 111"}
NOTE = "Paul's birthday, call +352 621 222 333"
REFERENCE = "paul@example.org"
TRACES = (JEANNE["email"], JEANNE["name"], JEANNE["phone"], "621 222 333", REFERENCE, "Muller")


def keyed(tenant: Tenant, key: str) -> dict[str, str]:
    return {**tenant.headers, "Idempotency-Key": key}


async def _touch_every_route_that_stores_data(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, Any]:
    """Jeanne enrols at the counter (and tries again on the public page), then collects a stamp and
    points with notes and references a member of staff typed about her, and one entry is voided."""
    card: dict[str, Any] = (
        await client.post(f"{VENDOR}/cards", json=JEANNE, headers=keyed(tenant, "enrol-0001"))
    ).json()
    ref = {"card_id": card["id"], "staff_pin": tenant.pin}
    stamp = await client.post(f"{VENDOR}/stamp", json={**ref, "notes": NOTE}, headers=keyed(tenant, "s-1"))
    earn = await client.post(
        f"{VENDOR}/points/earn",
        json={**ref, "purchase_amount_cents": 2500, "order_reference": REFERENCE},
        headers=keyed(tenant, "e-1"),
    )
    void = await client.post(
        f"{VENDOR}/transactions/{earn.json()['transaction_id']}/void",
        json={"reason": f"wrong card, {JEANNE['name']} complained", "staff_pin": tenant.pin},
        headers=keyed(tenant, "v-1"),
    )
    public = await client.post(
        f"/api/v1/loyalty/programs/{tenant.slug}/enroll",
        json={"email": "JEANNE.MULLER@example.org", "name": "Jeanne"},
        headers={"Idempotency-Key": "web-1"},
    )
    assert [stamp.status_code, earn.status_code, void.status_code, public.status_code] == [201, 201, 201, 409]
    return card


async def test_erasure_forgets_the_stored_answers_and_the_free_text(client: httpx.AsyncClient, tenant: Tenant) -> None:
    """A peer system's fault: after erasure, replaying the enrolment's Idempotency-Key answered 201 with
    the old e-mail and name, notes and order references still showed, and the card could be reactivated."""
    card = await _touch_every_route_that_stores_data(client, tenant)

    erased = await client.post(f"{VENDOR}/customers/{card['customer']['id']}/erase", headers=tenant.headers)
    replay = await client.post(f"{VENDOR}/cards", json=JEANNE, headers=keyed(tenant, "enrol-0001"))
    journal = await client.get(f"{VENDOR}/cards/{card['id']}/transactions", headers=tenant.headers)
    reactivated = await client.post(f"{VENDOR}/cards/{card['id']}/reactivate", headers=tenant.headers)

    assert erased.status_code == 204
    assert "Idempotent-Replayed" not in replay.headers  # no stored answer left to replay
    assert replay.status_code == 201 and replay.json()["id"] != card["id"]  # what was sent now enrols anew
    entries = journal.json()["items"]
    assert len(entries) == 3 and all(e["notes"] is None and e["order_reference"] is None for e in entries)
    assert [e["points_delta"] for e in entries] == [-25, 25, 0]  # amounts, types and times stay
    assert_error(reactivated, 400, "CUSTOMER_ERASED")


async def test_after_erasure_no_table_holds_the_persons_data(
    client: httpx.AsyncClient, tenant: Tenant, database: Database
) -> None:
    """Every text column of every table, and every stored answer (decompressed), is searched."""
    card = await _touch_every_route_that_stores_data(client, tenant)
    assert (
        await client.post(f"{VENDOR}/customers/{card['customer']['id']}/erase", headers=tenant.headers)
    ).status_code == 204

    found = await _text_containing(database, TRACES)

    assert found == []


async def _text_containing(database: Database, needles: tuple[str, ...]) -> list[str]:
    found = []
    async with database.unit_of_work() as session:
        for table in Base.metadata.sorted_tables:
            for column in table.columns:
                if not isinstance(column.type, String | Text | JSON):
                    continue
                for needle in needles:
                    hit = func.lower(cast(column, Text)).contains(needle.lower(), autoescape=True)
                    if await session.scalar(select(func.count()).select_from(table).where(hit)):
                        found.append(f"{table.name}.{column.name} holds {needle!r}")
        for body in await session.scalars(select(IdempotencyRecord.response_body)):
            answer = idempotency._replayed_body(body or "")
            found += [f"a stored answer holds {n!r}" for n in needles if n.lower() in answer.lower()]
    return found
