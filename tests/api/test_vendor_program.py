"""Vendor programme: create (idempotent), read, change, (de)activate; and the vendor's statistics."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.services import api_keys, vendors
from loyalty.services.context import Context
from tests.api.helpers import bearer
from tests.api.test_admin_programs import seed_activity
from tests.tenants import Tenant

pytestmark = pytest.mark.anyio

PROGRAM = "/api/v1/vendor/loyalty/program"
STATS = "/api/v1/vendor/loyalty/stats"
MINIMAL = {"program_type": "stamps", "name": "Coffee card"}


@pytest.fixture
async def newcomer(database: Database, settings: Settings, clock: FixedClock) -> tuple[int, dict[str, str]]:
    """A vendor with a key and no programme yet: (vendor_id, headers)."""
    async with database.unit_of_work() as session:
        ctx = Context(session, settings, clock)
        vendor = await vendors.create_vendor(ctx, vendors.VendorCreate(name="Newcomer"))
        issued = await api_keys.create_vendor_key(ctx, vendor.id, "till")
        return vendor.id, bearer(issued.secret)


def assert_validation_error(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error_code"] == "VALIDATION_ERROR"
    assert field in [error["field"] for error in body["details"]["errors"]]
    assert all(error["message"] for error in body["details"]["errors"])


# --- auth ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", PROGRAM),
        ("GET", PROGRAM),
        ("PATCH", PROGRAM),
        ("POST", f"{PROGRAM}/activate"),
        ("POST", f"{PROGRAM}/deactivate"),
        ("GET", STATS),
    ],
)
async def test_vendor_program_routes_need_a_vendor_key(
    client: httpx.AsyncClient, admin_key: str, method: str, path: str
) -> None:
    body = MINIMAL if method in ("POST", "PATCH") else None

    missing = await client.request(method, path, json=body)
    unknown = await client.request(method, path, json=body, headers=bearer("lyk_live_unknown"))
    admin = await client.request(method, path, json=body, headers=bearer(admin_key))

    assert (missing.status_code, missing.json()["error_code"]) == (401, "UNAUTHENTICATED")
    assert (unknown.status_code, unknown.json()["error_code"]) == (401, "UNAUTHENTICATED")
    assert (admin.status_code, admin.json()["error_code"]) == (403, "FORBIDDEN")


# --- create ----------------------------------------------------------------------------------------


async def test_create_program_with_the_defaults(
    client: httpx.AsyncClient, newcomer: tuple[int, dict[str, str]], clock: FixedClock
) -> None:
    vendor_id, headers = newcomer

    response = await client.post(PROGRAM, json=MINIMAL, headers=headers)

    assert response.status_code == 201, response.text
    program = response.json()
    assert isinstance(program["id"], int)
    assert {k: v for k, v in program.items() if k not in ("id", "created_at", "updated_at")} == {
        "vendor_id": vendor_id,
        "program_type": "stamps",
        "name": "Coffee card",
        "stamps_target": 10,
        "stamps_reward_description": None,
        "points_per_euro": 1,
        "points_rewards": [],
        "cooldown_minutes": 15,
        "max_daily_stamps": 5,
        "require_staff_pin": True,
        "card_name": None,
        "card_color": None,
        "logo_url": None,
        "terms": None,
        "locations": [],
        "is_active": True,
    }
    assert program["created_at"] == program["updated_at"]
    assert program["created_at"].replace("Z", "+00:00") == clock.now().isoformat()
    assert (await client.get(PROGRAM, headers=headers)).json() == program


async def test_create_program_with_every_field(client: httpx.AsyncClient, newcomer: tuple[int, dict[str, str]]) -> None:
    _, headers = newcomer
    body = {
        "program_type": "hybrid",
        "name": "Bakery friends",
        "stamps_target": 8,
        "stamps_reward_description": "A free croissant",
        "points_per_euro": 2.5,
        "points_rewards": [
            {"name": "Coffee", "points_required": 50},
            {"id": 7, "name": "Cake", "points_required": 120, "is_active": False},
            {"name": "Bread", "points_required": 80},
        ],
        "cooldown_minutes": 0,
        "max_daily_stamps": 2,
        "require_staff_pin": False,
        "card_name": "Friends card",
        "card_color": "#1A2b3C",
        "logo_url": "https://example.com/logo.png",
        "terms": "One stamp per purchase.",
    }

    response = await client.post(PROGRAM, json=body, headers=headers)

    assert response.status_code == 201, response.text
    program = response.json()
    assert {k: program[k] for k in body if k != "points_rewards"} == {
        k: v for k, v in body.items() if k != "points_rewards"
    }
    # Rewards without an id get the next free ones after the highest given.
    assert program["points_rewards"] == [
        {"id": 8, "name": "Coffee", "points_required": 50, "is_active": True},
        {"id": 7, "name": "Cake", "points_required": 120, "is_active": False},
        {"id": 9, "name": "Bread", "points_required": 80, "is_active": True},
    ]


async def test_points_per_euro_is_a_json_number_kept_exactly(
    client: httpx.AsyncClient, newcomer: tuple[int, dict[str, str]]
) -> None:
    _, headers = newcomer

    response = await client.post(PROGRAM, json={**MINIMAL, "points_per_euro": "0.1234"}, headers=headers)

    assert '"points_per_euro":0.1234' in response.text.replace(" ", "")
    assert (await client.get(PROGRAM, headers=headers)).json()["points_per_euro"] == 0.1234


async def test_second_program_is_a_conflict(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post(PROGRAM, json=MINIMAL, headers=tenant.headers)

    assert response.status_code == 409
    assert response.json()["error_code"] == "LOYALTY_PROGRAM_ALREADY_EXISTS"
    assert response.json()["details"] == {"vendor_id": tenant.vendor_id}
    assert (await client.get(PROGRAM, headers=tenant.headers)).json()["name"] == "cafe-one card"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"card_color": "red"}, "card_color"),
        ({"card_color": "#12345"}, "card_color"),
        ({"card_color": "#GGGGGG"}, "card_color"),
        ({"points_per_euro": -1}, "points_per_euro"),
        ({"points_per_euro": "lots"}, "points_per_euro"),
        ({"points_per_euro": 0.00001}, "points_per_euro"),
        ({"program_type": "coupons"}, "program_type"),
        ({"stamps_target": 0}, "stamps_target"),
        ({"cooldown_minutes": -5}, "cooldown_minutes"),
        ({"max_daily_stamps": 0}, "max_daily_stamps"),
        ({"name": ""}, "name"),
        ({"points_rewards": [{"name": "Free", "points_required": 0}]}, "points_rewards.0.points_required"),
    ],
)
async def test_create_program_rejects_invalid_fields(
    client: httpx.AsyncClient, newcomer: tuple[int, dict[str, str]], changes: dict[str, Any], field: str
) -> None:
    _, headers = newcomer

    response = await client.post(PROGRAM, json={**MINIMAL, **changes}, headers=headers)

    assert_validation_error(response, field)
    assert (await client.get(PROGRAM, headers=headers)).status_code == 404


async def test_create_program_needs_type_and_name(
    client: httpx.AsyncClient, newcomer: tuple[int, dict[str, str]]
) -> None:
    _, headers = newcomer

    response = await client.post(PROGRAM, json={}, headers=headers)

    assert response.status_code == 422
    assert {e["field"] for e in response.json()["details"]["errors"]} == {"program_type", "name"}


async def test_reward_ids_must_be_unique(client: httpx.AsyncClient, newcomer: tuple[int, dict[str, str]]) -> None:
    _, headers = newcomer
    rewards = [{"id": 1, "name": "A", "points_required": 5}, {"id": 1, "name": "B", "points_required": 9}]

    response = await client.post(PROGRAM, json={**MINIMAL, "points_rewards": rewards}, headers=headers)

    assert response.status_code == 422
    assert "only once" in response.json()["details"]["errors"][0]["message"]  # said in words, translated


# --- idempotency -----------------------------------------------------------------------------------


async def test_create_program_replays_with_the_same_idempotency_key(
    client: httpx.AsyncClient, newcomer: tuple[int, dict[str, str]]
) -> None:
    _, headers = newcomer
    keyed = {**headers, "Idempotency-Key": "create-1"}

    first = await client.post(PROGRAM, json=MINIMAL, headers=keyed)
    again = await client.post(PROGRAM, json=MINIMAL, headers=keyed)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.content == first.content
    assert again.headers.get("Idempotent-Replayed") == "true"
    # Without the key, the programme really exists once: a fresh create conflicts.
    assert (await client.post(PROGRAM, json=MINIMAL, headers=headers)).status_code == 409


async def test_idempotency_key_with_another_body_is_refused(
    client: httpx.AsyncClient, newcomer: tuple[int, dict[str, str]]
) -> None:
    _, headers = newcomer
    keyed = {**headers, "Idempotency-Key": "create-2"}
    await client.post(PROGRAM, json=MINIMAL, headers=keyed)

    response = await client.post(PROGRAM, json={**MINIMAL, "name": "Other"}, headers=keyed)

    assert response.status_code == 409
    assert response.json()["error_code"] == "IDEMPOTENCY_KEY_REUSED"
    assert (await client.get(PROGRAM, headers=headers)).json()["name"] == "Coffee card"


async def test_idempotency_keys_are_scoped_per_vendor(
    client: httpx.AsyncClient, newcomer: tuple[int, dict[str, str]], tenant: Tenant
) -> None:
    _, headers = newcomer
    await client.post(PROGRAM, json=MINIMAL, headers={**headers, "Idempotency-Key": "shared"})

    # The same key from another vendor is that vendor's own request: it runs (and conflicts, as it has one).
    response = await client.post(PROGRAM, json=MINIMAL, headers={**tenant.headers, "Idempotency-Key": "shared"})

    assert response.json()["error_code"] == "LOYALTY_PROGRAM_ALREADY_EXISTS"


async def test_a_failed_create_stores_nothing_under_its_key(
    client: httpx.AsyncClient, newcomer: tuple[int, dict[str, str]]
) -> None:
    _, headers = newcomer
    keyed = {**headers, "Idempotency-Key": "retry-me"}

    refused = await client.post(PROGRAM, json={**MINIMAL, "card_color": "blue"}, headers=keyed)
    fixed = await client.post(PROGRAM, json=MINIMAL, headers=keyed)

    assert (refused.status_code, fixed.status_code) == (422, 201)


@pytest.mark.parametrize("key", ["", "k" * 256])
async def test_idempotency_key_length_is_checked(
    client: httpx.AsyncClient, newcomer: tuple[int, dict[str, str]], key: str
) -> None:
    _, headers = newcomer

    response = await client.post(PROGRAM, json=MINIMAL, headers={**headers, "Idempotency-Key": key})

    assert_validation_error(response, "Idempotency-Key")


# --- read ------------------------------------------------------------------------------------------


async def test_get_program_without_one_is_404(client: httpx.AsyncClient, newcomer: tuple[int, dict[str, str]]) -> None:
    vendor_id, headers = newcomer

    response = await client.get(PROGRAM, headers=headers)

    assert response.status_code == 404
    assert response.json()["error_code"] == "LOYALTY_PROGRAM_NOT_FOUND"
    assert response.json()["details"] == {"identifier": vendor_id}


async def test_each_vendor_sees_its_own_program(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    mine = (await client.get(PROGRAM, headers=tenant.headers)).json()
    theirs = (await client.get(PROGRAM, headers=other_tenant.headers)).json()

    assert (mine["id"], mine["vendor_id"]) == (tenant.program_id, tenant.vendor_id)
    assert (theirs["id"], theirs["vendor_id"]) == (other_tenant.program_id, other_tenant.vendor_id)


# --- update ----------------------------------------------------------------------------------------


async def test_patch_changes_only_the_given_fields(
    client: httpx.AsyncClient, tenant: Tenant, clock: FixedClock
) -> None:
    before = (await client.get(PROGRAM, headers=tenant.headers)).json()
    clock.advance(timedelta(minutes=5))
    changes = {
        "name": "Renamed",
        "card_color": "#00FF00",
        "points_per_euro": "1.75",
        "logo_url": None,
        "points_rewards": [{"name": "Tea", "points_required": 30}],
    }

    response = await client.patch(PROGRAM, json=changes, headers=tenant.headers)

    assert response.status_code == 200, response.text
    after = response.json()
    assert after == {
        **before,
        "name": "Renamed",
        "card_color": "#00FF00",
        "points_per_euro": 1.75,
        "logo_url": None,
        "points_rewards": [{"id": 1, "name": "Tea", "points_required": 30, "is_active": True}],
        "updated_at": after["updated_at"],
    }
    assert after["updated_at"].replace("Z", "+00:00") == clock.now().isoformat()
    assert after["created_at"] == before["created_at"]
    assert (await client.get(PROGRAM, headers=tenant.headers)).json() == after


async def test_patch_clears_optional_text(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await client.patch(PROGRAM, json={"terms": "Old terms", "card_name": "Card"}, headers=tenant.headers)

    response = await client.patch(PROGRAM, json={"terms": None}, headers=tenant.headers)

    assert (response.json()["terms"], response.json()["card_name"]) == (None, "Card")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"card_color": "#1234567"}, "card_color"),
        ({"points_per_euro": -0.5}, "points_per_euro"),
        ({"program_type": "loyalty"}, "program_type"),
        ({"stamps_target": -1}, "stamps_target"),
        ({"name": None}, "body"),  # a required setting cannot be cleared
        ({"stamps_target": None}, "body"),
    ],
)
async def test_patch_rejects_invalid_fields(
    client: httpx.AsyncClient, tenant: Tenant, changes: dict[str, Any], field: str
) -> None:
    before = (await client.get(PROGRAM, headers=tenant.headers)).json()

    response = await client.patch(PROGRAM, json=changes, headers=tenant.headers)

    assert_validation_error(response, field)
    assert (await client.get(PROGRAM, headers=tenant.headers)).json() == before


async def test_patch_without_a_program_is_404(client: httpx.AsyncClient, newcomer: tuple[int, dict[str, str]]) -> None:
    vendor_id, headers = newcomer

    response = await client.patch(PROGRAM, json={"name": "X"}, headers=headers)

    assert (response.status_code, response.json()["error_code"]) == (404, "LOYALTY_PROGRAM_NOT_FOUND")
    assert response.json()["details"] == {"identifier": vendor_id}


# --- activate / deactivate -------------------------------------------------------------------------


async def test_deactivate_and_activate(client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant) -> None:
    off = await client.post(f"{PROGRAM}/deactivate", headers=tenant.headers)

    assert (off.status_code, off.json()["is_active"], off.json()["id"]) == (200, False, tenant.program_id)
    assert (await client.get(PROGRAM, headers=tenant.headers)).json()["is_active"] is False
    assert (await client.get(PROGRAM, headers=other_tenant.headers)).json()["is_active"] is True

    on = await client.post(f"{PROGRAM}/activate", headers=tenant.headers)

    assert (on.status_code, on.json()["is_active"]) == (200, True)


async def test_deactivate_replays_with_the_same_idempotency_key(
    client: httpx.AsyncClient, tenant: Tenant, clock: FixedClock
) -> None:
    keyed = {**tenant.headers, "Idempotency-Key": "off-1"}
    first = await client.post(f"{PROGRAM}/deactivate", headers=keyed)
    await client.post(f"{PROGRAM}/activate", headers=tenant.headers)
    clock.advance(timedelta(minutes=1))

    again = await client.post(f"{PROGRAM}/deactivate", headers=keyed)

    assert again.content == first.content
    assert again.headers.get("Idempotent-Replayed") == "true"
    # A replay has no second effect: the programme stays as the later activate left it.
    assert (await client.get(PROGRAM, headers=tenant.headers)).json()["is_active"] is True


async def test_the_same_key_on_another_route_is_refused(client: httpx.AsyncClient, tenant: Tenant) -> None:
    keyed = {**tenant.headers, "Idempotency-Key": "toggle"}
    await client.post(f"{PROGRAM}/deactivate", headers=keyed)

    response = await client.post(f"{PROGRAM}/activate", headers=keyed)

    assert (response.status_code, response.json()["error_code"]) == (409, "IDEMPOTENCY_KEY_REUSED")


@pytest.mark.parametrize("action", ["activate", "deactivate"])
async def test_toggle_without_a_program_is_404(
    client: httpx.AsyncClient, newcomer: tuple[int, dict[str, str]], action: str
) -> None:
    vendor_id, headers = newcomer

    response = await client.post(f"{PROGRAM}/{action}", headers=headers)

    assert (response.status_code, response.json()["error_code"]) == (404, "LOYALTY_PROGRAM_NOT_FOUND")
    assert response.json()["details"] == {"identifier": vendor_id}


# --- statistics ------------------------------------------------------------------------------------


async def test_stats_count_the_vendors_own_activity(
    client: httpx.AsyncClient,
    tenant: Tenant,
    other_tenant: Tenant,
    database: Database,
    settings: Settings,
    clock: FixedClock,
) -> None:
    await seed_activity(database, settings, clock, tenant, stamps_given=3, purchases=(2050,))
    await seed_activity(database, settings, clock, other_tenant, stamps_given=2)

    response = await client.get(STATS, headers=tenant.headers)

    assert response.status_code == 200
    figures = response.json()
    assert {k: v for k, v in figures.items() if k != "daily"} == {
        "total_cards": 1,
        "active_cards_30d": 1,
        "stamps_issued": 3,
        "stamps_redeemed": 1,
        "points_issued": 20,
        "points_redeemed": 0,
        "transactions_30d": 5,
    }
    assert len(figures["daily"]) == 30
    assert figures["daily"][-1] == {
        "date": "2026-11-21",
        "stamps": 3,
        "points_earned": 20,
        "redemptions": 1,
        "new_cards": 1,
    }
    theirs = (await client.get(STATS, headers=other_tenant.headers)).json()
    assert (theirs["stamps_issued"], theirs["stamps_redeemed"], theirs["transactions_30d"]) == (2, 0, 2)


async def test_stats_of_a_fresh_programme_are_zero(
    client: httpx.AsyncClient, newcomer: tuple[int, dict[str, str]]
) -> None:
    _, headers = newcomer
    await client.post(PROGRAM, json=MINIMAL, headers=headers)

    figures = (await client.get(STATS, headers=headers)).json()

    assert (figures["total_cards"], figures["stamps_issued"], figures["points_issued"]) == (0, 0, 0)
    assert [day["date"] for day in figures["daily"][-2:]] == ["2026-11-20", "2026-11-21"]
    assert sum(day["stamps"] + day["new_cards"] + day["redemptions"] for day in figures["daily"]) == 0


async def test_stats_still_answer_for_an_inactive_programme(
    client: httpx.AsyncClient, tenant: Tenant, database: Database, settings: Settings, clock: FixedClock
) -> None:
    await seed_activity(database, settings, clock, tenant, stamps_given=1)
    await client.post(f"{PROGRAM}/deactivate", headers=tenant.headers)

    response = await client.get(STATS, headers=tenant.headers)

    assert (response.status_code, response.json()["stamps_issued"]) == (200, 1)


async def test_stats_without_a_program_is_404(client: httpx.AsyncClient, newcomer: tuple[int, dict[str, str]]) -> None:
    vendor_id, headers = newcomer

    response = await client.get(STATS, headers=headers)

    assert (response.status_code, response.json()["error_code"]) == (404, "LOYALTY_PROGRAM_NOT_FOUND")
    assert response.json()["details"] == {"identifier": vendor_id}
