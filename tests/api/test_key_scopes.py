"""Who may do what: a `counter` key runs the counter but cannot manage PINs (nor lift its own PIN
lockout), the programme, cards' state or customers' data; the last admin key cannot be revoked."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.services import api_keys
from loyalty.services.context import Context
from tests.api.helpers import assert_error, bearer
from tests.tenants import Tenant

pytestmark = pytest.mark.anyio

ADMIN = "/api/v1/admin/loyalty"
V = "/api/v1/vendor/loyalty"


async def _counter_key(client: httpx.AsyncClient, admin_key: str, tenant: Tenant) -> dict[str, str]:
    response = await client.post(
        f"{ADMIN}/vendors/{tenant.vendor_id}/api-keys",
        json={"name": "till 1", "scope": "counter"},
        headers=bearer(admin_key),
    )
    assert response.status_code == 201 and response.json()["scope"] == "counter"
    return bearer(response.json()["key"])


async def test_a_key_is_an_owner_key_unless_asked_otherwise(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant
) -> None:
    response = await client.post(
        f"{ADMIN}/vendors/{tenant.vendor_id}/api-keys", json={"name": "office"}, headers=bearer(admin_key)
    )
    assert response.status_code == 201 and response.json()["scope"] == "owner"


async def test_a_counter_key_cannot_lift_its_own_pin_lockout(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant
) -> None:
    """The issue's attack: wrong PINs until the lock, then `unlock` with the same key, again and again."""
    counter = await _counter_key(client, admin_key, tenant)
    guess = {"card_id": tenant.card_id, "staff_pin": "0000", "staff_pin_id": tenant.pin_id}
    for _ in range(5):
        assert (await client.post(f"{V}/stamp", json=guess, headers=counter)).status_code == 403

    unlock = await client.post(f"{V}/pins/{tenant.pin_id}/unlock", headers=counter)
    right_pin = await client.post(f"{V}/stamp", json={**guess, "staff_pin": tenant.pin}, headers=counter)

    assert_error(unlock, 403, "FORBIDDEN")
    assert_error(right_pin, 423, "STAFF_PIN_LOCKED")  # the lock holds
    assert (await client.post(f"{V}/pins/{tenant.pin_id}/unlock", headers=tenant.headers)).status_code == 200


OWNER_ONLY = [
    ("POST", "/pins", {"name": "Mallory", "pin": "5839"}),
    ("PATCH", "/pins/{pin_id}", {"pin": "5839"}),
    ("DELETE", "/pins/{pin_id}", None),
    ("POST", "/pins/{pin_id}/unlock", None),
    ("POST", "/program", {"program_type": "stamps", "name": "Other"}),
    ("PATCH", "/program", {"cooldown_minutes": 0}),
    ("POST", "/program/activate", None),
    ("POST", "/program/deactivate", None),
    ("POST", "/cards/{card_id}/deactivate", None),
    ("POST", "/cards/{card_id}/reactivate", None),
    ("GET", "/customers/1/export", None),
    ("POST", "/customers/1/erase", None),
    ("GET", "/stats", None),
    ("GET", "/transactions", None),
]
COUNTER = [
    ("GET", "/program", None),
    ("GET", "/pins", None),
    ("GET", "/cards", None),
    ("GET", "/cards/{card_id}", None),
    ("GET", "/cards/{card_id}/transactions", None),
    ("POST", "/cards", {"email": "walk-in@example.com"}),
    ("POST", "/stamp", {"card_id": "{card_id}", "staff_pin": "{pin}"}),
    ("POST", "/points/earn", {"card_id": "{card_id}", "purchase_amount_cents": 450, "staff_pin": "{pin}"}),
]


def _request(tenant: Tenant, method: str, path: str, body: Any) -> tuple[str, str, Any]:
    values = {"pin_id": tenant.pin_id, "card_id": tenant.card_id, "pin": tenant.pin}
    if isinstance(body, dict):
        body = {k: (values[v[1:-1]] if isinstance(v, str) and v[:1] == "{" else v) for k, v in body.items()}
    return method, V + path.format(**values), body


async def test_a_counter_key_is_forbidden_what_only_an_owner_may_do(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant
) -> None:
    counter = await _counter_key(client, admin_key, tenant)
    for method, path, body in (_request(tenant, *route) for route in OWNER_ONLY):
        response = await client.request(method, path, json=body, headers=counter)
        assert response.status_code == 403 and response.json()["error_code"] == "FORBIDDEN", (method, path)


async def test_a_counter_key_runs_the_counter(client: httpx.AsyncClient, admin_key: str, tenant: Tenant) -> None:
    counter = await _counter_key(client, admin_key, tenant)
    for method, path, body in (_request(tenant, *route) for route in COUNTER):
        response = await client.request(method, path, json=body, headers=counter)
        assert response.status_code in (200, 201), (method, path, response.text)


# --- the last admin key ----------------------------------------------------------------------------


async def _two_admin_keys(
    admin_key: str, database: Database, settings: Settings, clock: FixedClock
) -> list[tuple[int, str]]:
    """(id, secret) of the fixture's admin key and of a second one."""
    async with database.unit_of_work() as session:
        second = await api_keys.create_admin_key(Context(session, settings, clock), "second admin")
    async with database.unit_of_work() as session:
        first = await api_keys.identify(session, admin_key)
    return [(first.key_id, admin_key), (second.record.id, second.secret)]


async def test_the_last_active_admin_key_cannot_be_revoked(
    client: httpx.AsyncClient, admin_key: str, database: Database, settings: Settings, clock: FixedClock
) -> None:
    (first_id, _), (second_id, _) = await _two_admin_keys(admin_key, database, settings, clock)

    revoked = await client.delete(f"{ADMIN}/api-keys/{second_id}", headers=bearer(admin_key))
    last = await client.delete(f"{ADMIN}/api-keys/{first_id}", headers=bearer(admin_key))

    assert revoked.status_code == 204
    assert_error(last, 409, "LAST_ADMIN_KEY")
    assert (await client.get(f"{ADMIN}/stats", headers=bearer(admin_key))).status_code == 200


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # row locks decide the race
async def test_two_admins_revoking_their_own_keys_at_once_leave_one(
    client: httpx.AsyncClient, admin_key: str, database: Database, settings: Settings, clock: FixedClock
) -> None:
    keys = await _two_admin_keys(admin_key, database, settings, clock)

    answers = await asyncio.gather(
        *(client.delete(f"{ADMIN}/api-keys/{key_id}", headers=bearer(secret)) for key_id, secret in keys)
    )

    assert sorted(a.status_code for a in answers) == [204, 409]
