"""Staff PIN management over HTTP: /api/v1/vendor/loyalty/pins."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import update

from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.models import StaffPin
from loyalty.services import api_keys, vendors
from loyalty.services.context import Context
from tests.api.helpers import assert_error, bearer
from tests.fixtures import START
from tests.tenants import Tenant, make_tenant

pytestmark = pytest.mark.anyio

PINS = "/api/v1/vendor/loyalty/pins"
STAMP = "/api/v1/vendor/loyalty/stamp"


def assert_no_secret(text: str, *digits: str) -> None:
    """A StaffPin answer never carries the PIN, its bcrypt hash or its lookup fingerprint."""
    for secret in ("pin_hash", "pin_lookup", "$2b$", '"pin"', *digits):
        assert secret not in text


async def _lock(database: Database, pin_id: int, until: datetime | None, attempts: int = 5) -> None:
    async with database.unit_of_work() as session:
        await session.execute(
            update(StaffPin).where(StaffPin.id == pin_id).values(failed_attempts=attempts, locked_until=until)
        )


# --- auth ------------------------------------------------------------------------------------------


async def test_pins_need_a_vendor_key(client: httpx.AsyncClient, admin_key: str) -> None:
    missing = await client.get(PINS)
    assert missing.status_code == 401
    assert missing.json()["error_code"] == "UNAUTHENTICATED"
    wrong = await client.get(PINS, headers=bearer("not-a-key"))
    assert wrong.status_code == 401
    admin = await client.post(PINS, json={"name": "A", "pin": "5839"}, headers=bearer(admin_key))
    assert admin.status_code == 403
    assert admin.json()["error_code"] == "FORBIDDEN"


# --- list ------------------------------------------------------------------------------------------


async def test_list_pins_shows_staff_without_secrets(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.get(PINS, headers=tenant.headers)
    assert response.status_code == 200
    assert_no_secret(response.text, tenant.pin)
    page = response.json()
    assert page["total"] == 1 and page["limit"] == 50 and page["offset"] == 0
    (pin,) = page["items"]
    assert pin["id"] == tenant.pin_id
    assert pin["name"] == "Staff"
    assert pin["is_active"] is True
    assert pin["is_locked"] is False
    assert pin["locked_until"] is None
    assert pin["failed_attempts"] == 0
    assert pin["last_used_at"] is None
    assert pin["created_at"].startswith("2026-11-21T09:00:00")


async def test_list_pins_pages_and_sees_only_own_programme(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    for i, digits in enumerate(("5839", "6840", "7851")):
        created = await client.post(PINS, json={"name": f"S{i}", "pin": digits}, headers=tenant.headers)
        assert created.status_code == 201
    page = (await client.get(PINS, params={"limit": 2, "offset": 1}, headers=tenant.headers)).json()
    assert page["total"] == 4 and page["limit"] == 2 and page["offset"] == 1
    assert [p["name"] for p in page["items"]] == ["S0", "S1"]
    others = (await client.get(PINS, headers=other_tenant.headers)).json()
    assert [p["id"] for p in others["items"]] == [other_tenant.pin_id]
    too_many = await client.get(PINS, params={"limit": 201}, headers=tenant.headers)
    assert too_many.status_code == 422


# --- create ----------------------------------------------------------------------------------------


async def test_create_pin(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post(PINS, json={"name": "Anna", "pin": "58392017"}, headers=tenant.headers)
    assert response.status_code == 201
    assert_no_secret(response.text, "58392017")
    body = response.json()
    assert body["name"] == "Anna" and body["is_active"] is True and body["is_locked"] is False
    assert body["failed_attempts"] == 0
    listed = await client.get(PINS, headers=tenant.headers)
    assert {p["name"] for p in listed.json()["items"]} == {"Staff", "Anna"}
    assert_no_secret(listed.text, "58392017", tenant.pin)


async def test_same_digits_conflict_within_a_programme_only(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    again = await client.post(PINS, json={"name": "Twin", "pin": tenant.pin}, headers=tenant.headers)
    assert again.status_code == 409
    assert again.json()["error_code"] == "STAFF_PIN_ALREADY_EXISTS"
    assert_no_secret(again.text, tenant.pin)
    elsewhere = await client.post(PINS, json={"name": "Twin", "pin": tenant.pin}, headers=other_tenant.headers)
    assert elsewhere.status_code == 201


@pytest.mark.parametrize("pin", ["123", "123456789", "12a4", "", " 1234", "١٢٣٤", 1234])
async def test_pin_must_be_4_to_8_digits(client: httpx.AsyncClient, tenant: Tenant, pin: object) -> None:
    response = await client.post(PINS, json={"name": "Bad", "pin": pin}, headers=tenant.headers)
    assert response.status_code == 422
    body = response.json()
    assert body["error_code"] == "VALIDATION_ERROR"
    assert "pin" in [error["field"] for error in body["details"]["errors"]]


async def test_create_pin_needs_a_name(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post(PINS, json={"pin": "5839"}, headers=tenant.headers)
    assert response.status_code == 422
    assert "name" in [error["field"] for error in response.json()["details"]["errors"]]


async def test_create_pin_without_programme_is_404(
    client: httpx.AsyncClient, database: Database, settings: Settings, clock: FixedClock
) -> None:
    async with database.unit_of_work() as session:
        ctx = Context(session, settings, clock)
        vendor = await vendors.create_vendor(ctx, vendors.VendorCreate(name="No Programme", slug="no-programme"))
        issued = await api_keys.create_vendor_key(ctx, vendor.id, "counter")
    response = await client.post(PINS, json={"name": "A", "pin": "5839"}, headers=bearer(issued.secret))
    assert response.status_code == 404
    assert response.json()["error_code"] == "LOYALTY_PROGRAM_NOT_FOUND"


async def test_create_pin_honours_idempotency_key(client: httpx.AsyncClient, tenant: Tenant) -> None:
    headers = {**tenant.headers, "Idempotency-Key": "pin-1"}
    first = await client.post(PINS, json={"name": "Anna", "pin": "5839"}, headers=headers)
    second = await client.post(PINS, json={"pin": "5839", "name": "Anna"}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert (await client.get(PINS, headers=tenant.headers)).json()["total"] == 2
    other_body = await client.post(PINS, json={"name": "Bob", "pin": "6840"}, headers=headers)
    assert other_body.status_code == 409
    assert other_body.json()["error_code"] == "IDEMPOTENCY_KEY_REUSED"


# --- update ----------------------------------------------------------------------------------------


async def test_update_pin(client: httpx.AsyncClient, tenant: Tenant) -> None:
    url = f"{PINS}/{tenant.pin_id}"
    renamed = await client.patch(url, json={"name": "Head barista"}, headers=tenant.headers)
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Head barista" and renamed.json()["is_active"] is True
    disabled = await client.patch(url, json={"is_active": False}, headers=tenant.headers)
    assert disabled.json()["is_active"] is False and disabled.json()["name"] == "Head barista"
    rekeyed = await client.patch(url, json={"pin": "90817263"}, headers=tenant.headers)
    assert rekeyed.status_code == 200
    assert_no_secret(rekeyed.text, "90817263")
    # the old digits are free again, the new ones are taken
    assert (await client.post(PINS, json={"name": "N", "pin": tenant.pin}, headers=tenant.headers)).status_code == 201
    taken = await client.post(PINS, json={"name": "M", "pin": "90817263"}, headers=tenant.headers)
    assert taken.status_code == 409


async def test_update_pin_to_digits_in_use_is_409(client: httpx.AsyncClient, tenant: Tenant) -> None:
    other = (await client.post(PINS, json={"name": "Anna", "pin": "5839"}, headers=tenant.headers)).json()
    response = await client.patch(f"{PINS}/{other['id']}", json={"pin": tenant.pin}, headers=tenant.headers)
    assert response.status_code == 409
    assert response.json()["error_code"] == "STAFF_PIN_ALREADY_EXISTS"


async def test_update_pin_validates(client: httpx.AsyncClient, tenant: Tenant) -> None:
    url = f"{PINS}/{tenant.pin_id}"
    assert (await client.patch(url, json={"pin": "12"}, headers=tenant.headers)).status_code == 422
    assert (await client.patch(url, json={"name": ""}, headers=tenant.headers)).status_code == 422


async def test_unknown_or_foreign_pin_is_404(client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant) -> None:
    for pin_id in (999999, other_tenant.pin_id):
        for method, url, body in (
            ("PATCH", f"{PINS}/{pin_id}", {"name": "X"}),
            ("DELETE", f"{PINS}/{pin_id}", None),
            ("POST", f"{PINS}/{pin_id}/unlock", None),
        ):
            response = await client.request(method, url, json=body, headers=tenant.headers)
            assert response.status_code == 404, (method, url)
            assert response.json()["error_code"] == "STAFF_PIN_NOT_FOUND"
            assert response.json()["details"]["identifier"] == pin_id
    still = (await client.get(PINS, headers=other_tenant.headers)).json()["items"][0]
    assert still["name"] == "Staff" and still["is_active"] is True


async def test_pin_id_must_be_positive(client: httpx.AsyncClient, tenant: Tenant) -> None:
    assert (await client.patch(f"{PINS}/0", json={"name": "X"}, headers=tenant.headers)).status_code == 422
    assert (await client.delete(f"{PINS}/abc", headers=tenant.headers)).status_code == 422


# --- delete ----------------------------------------------------------------------------------------


async def test_delete_pin(client: httpx.AsyncClient, tenant: Tenant) -> None:
    url = f"{PINS}/{tenant.pin_id}"
    response = await client.delete(url, headers=tenant.headers)
    assert response.status_code == 204
    assert response.content == b""
    assert (await client.get(PINS, headers=tenant.headers)).json()["total"] == 0
    again = await client.delete(url, headers=tenant.headers)
    assert again.status_code == 404 and again.json()["error_code"] == "STAFF_PIN_NOT_FOUND"
    # the deleted PIN's digits can be given to someone else
    reused = await client.post(PINS, json={"name": "New", "pin": tenant.pin}, headers=tenant.headers)
    assert reused.status_code == 201


# --- lock / unlock ---------------------------------------------------------------------------------


async def test_unlock_resets_failed_attempts_and_lock(
    client: httpx.AsyncClient, tenant: Tenant, database: Database
) -> None:
    await _lock(database, tenant.pin_id, START + timedelta(minutes=30))
    locked = (await client.get(PINS, headers=tenant.headers)).json()["items"][0]
    assert locked["is_locked"] is True
    assert locked["failed_attempts"] == 5
    assert locked["locked_until"].startswith("2026-11-21T09:30:00")
    response = await client.post(f"{PINS}/{tenant.pin_id}/unlock", headers=tenant.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["is_locked"] is False and body["locked_until"] is None and body["failed_attempts"] == 0
    assert_no_secret(response.text, tenant.pin)
    listed = (await client.get(PINS, headers=tenant.headers)).json()["items"][0]
    assert listed["is_locked"] is False and listed["failed_attempts"] == 0


async def test_is_locked_follows_the_app_clock(
    client: httpx.AsyncClient, tenant: Tenant, database: Database, clock: FixedClock
) -> None:
    await _lock(database, tenant.pin_id, START + timedelta(minutes=30))
    assert (await client.get(PINS, headers=tenant.headers)).json()["items"][0]["is_locked"] is True
    clock.advance(timedelta(minutes=31))
    expired = (await client.get(PINS, headers=tenant.headers)).json()["items"][0]
    assert expired["is_locked"] is False
    assert expired["locked_until"] is not None  # kept as history; the lock has simply run out


async def test_unlock_an_unlocked_pin_is_harmless(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post(f"{PINS}/{tenant.pin_id}/unlock", headers=tenant.headers)
    assert response.status_code == 200
    assert response.json()["failed_attempts"] == 0


async def test_other_vendor_keeps_its_own_pins(
    client: httpx.AsyncClient, database: Database, settings: Settings, clock: FixedClock, tenant: Tenant
) -> None:
    third = await make_tenant(database, settings, clock, slug="third-shop", pin="4321", email="t@example.com")
    response = await client.get(PINS, headers=third.headers)
    assert [p["id"] for p in response.json()["items"]] == [third.pin_id]


async def test_a_locked_terminal_is_visible_and_says_what_is_locked(
    client: httpx.AsyncClient, tenant: Tenant, clock: FixedClock
) -> None:
    """A peer system's gap: after five wrong PINs sent without `staff_pin_id`, every PIN of the terminal
    answered 423 while `GET /pins` showed every PIN unlocked with no failures."""
    for _ in range(5):
        await client.post(STAMP, json={"card_id": tenant.card_id, "staff_pin": "0000"}, headers=tenant.headers)
    right_pin = {"card_id": tenant.card_id, "staff_pin": tenant.pin}
    refused = await client.post(STAMP, json=right_pin, headers=tenant.headers)
    locks = await client.get(f"{PINS}/locks", headers=tenant.headers)

    assert assert_error(refused, 423, "STAFF_PIN_LOCKED")["lock"] == "terminal"
    [lock] = locks.json()
    assert (lock["api_key_name"], lock["failed_attempts"], lock["is_locked"]) == ("counter", 5, True)
    assert (await client.post(f"{PINS}/{tenant.pin_id}/unlock", headers=tenant.headers)).status_code == 200
    assert (await client.get(f"{PINS}/locks", headers=tenant.headers)).json() == []


@pytest.mark.parametrize("shape", ["12", "12345678901", "12a4", " 1234"])
async def test_a_pin_of_the_wrong_shape_is_a_422_not_a_guess(
    client: httpx.AsyncClient, tenant: Tenant, shape: str
) -> None:
    response = await client.post(STAMP, json={"card_id": tenant.card_id, "staff_pin": shape}, headers=tenant.headers)

    assert assert_error(response, 422, "VALIDATION_ERROR")["errors"][0]["field"] == "staff_pin"
    assert (await client.get(f"{PINS}/locks", headers=tenant.headers)).json() == []  # nothing counted
