"""Admin programmes: list with filters, read, statistics, (de)activate; and the platform totals."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.services import points, stamps
from loyalty.services.context import Actor, Context
from tests.api.helpers import bearer
from tests.tenants import Tenant, make_tenant

pytestmark = pytest.mark.anyio

PROGRAMS = "/api/v1/admin/loyalty/programs"
PLATFORM_STATS = "/api/v1/admin/loyalty/stats"
VENDOR_PROGRAM = "/api/v1/vendor/loyalty/program"


async def seed_activity(
    database: Database,
    settings: Settings,
    clock: FixedClock,
    tenant: Tenant,
    *,
    stamps_given: int = 0,
    purchases: Sequence[int] = (),
) -> int:
    """Stamps (15 min apart, the cooldown) and purchases through the services, each its own unit of work;
    a full card is redeemed. Returns the number of ledger entries written."""
    entries = 0
    card = stamps.StampRequest(card_id=tenant.card_id, staff_pin=tenant.pin, staff_pin_id=tenant.pin_id)
    for _ in range(stamps_given):
        async with database.unit_of_work() as session:
            outcome = await stamps.add_stamp(_vendor_ctx(session, settings, clock, tenant), card)
            entries += 1
            if outcome.reward_earned:
                await stamps.redeem_stamps(_vendor_ctx(session, settings, clock, tenant), card)
                entries += 1
        clock.advance(timedelta(minutes=15))
    for cents in purchases:
        request = points.EarnRequest(
            card_id=tenant.card_id, staff_pin=tenant.pin, staff_pin_id=tenant.pin_id, purchase_amount_cents=cents
        )
        async with database.unit_of_work() as session:
            await points.earn_points(_vendor_ctx(session, settings, clock, tenant), request)
            entries += 1
    return entries


def _vendor_ctx(session: AsyncSession, settings: Settings, clock: FixedClock, tenant: Tenant) -> Context:
    return Context(session, settings, clock, Actor(vendor_id=tenant.vendor_id))


@pytest.fixture
async def points_shop(database: Database, settings: Settings, clock: FixedClock) -> Tenant:
    """A third vendor: a points-only programme named apart from the others."""
    return await make_tenant(
        database,
        settings,
        clock,
        slug="book-nook",
        pin="5555",
        email="reader@example.com",
        program_type="points",
        name="Reader Rewards",
    )


# --- auth ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("GET", ""), ("GET", "/1"), ("GET", "/1/stats"), ("POST", "/1/activate"), ("POST", "/1/deactivate")],
)
async def test_admin_program_routes_need_an_admin_key(
    client: httpx.AsyncClient, tenant: Tenant, method: str, suffix: str
) -> None:
    missing = await client.request(method, PROGRAMS + suffix)
    unknown = await client.request(method, PROGRAMS + suffix, headers=bearer("nope"))
    vendor_key = await client.request(method, PROGRAMS + suffix, headers=tenant.headers)

    assert (missing.status_code, missing.json()["error_code"]) == (401, "UNAUTHENTICATED")
    assert (unknown.status_code, unknown.json()["error_code"]) == (401, "UNAUTHENTICATED")
    assert (vendor_key.status_code, vendor_key.json()["error_code"]) == (403, "FORBIDDEN")


async def test_platform_stats_need_an_admin_key(client: httpx.AsyncClient, tenant: Tenant) -> None:
    assert (await client.get(PLATFORM_STATS)).status_code == 401
    response = await client.get(PLATFORM_STATS, headers=tenant.headers)
    assert (response.status_code, response.json()["error_code"]) == (403, "FORBIDDEN")


# --- list and read ---------------------------------------------------------------------------------


async def test_list_programs_shows_every_vendor_with_its_name(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant, other_tenant: Tenant, points_shop: Tenant
) -> None:
    page = (await client.get(PROGRAMS, headers=bearer(admin_key))).json()

    assert (page["total"], page["limit"], page["offset"]) == (3, 50, 0)
    assert [(p["id"], p["vendor_id"], p["vendor_name"]) for p in page["items"]] == [
        (tenant.program_id, tenant.vendor_id, "Cafe-One"),
        (other_tenant.program_id, other_tenant.vendor_id, "Bakery-Two"),
        (points_shop.program_id, points_shop.vendor_id, "Book-Nook"),
    ]
    first = page["items"][0]
    assert first["program_type"] == "hybrid"
    assert first["name"] == "cafe-one card"
    assert first["stamps_target"] == 3
    assert first["points_per_euro"] == 1
    assert first["is_active"] is True


async def test_list_programs_pages(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant, other_tenant: Tenant, points_shop: Tenant
) -> None:
    page = (await client.get(PROGRAMS, params={"limit": 1, "offset": 1}, headers=bearer(admin_key))).json()

    assert (page["total"], page["limit"], page["offset"]) == (3, 1, 1)
    assert [p["id"] for p in page["items"]] == [other_tenant.program_id]


async def test_list_programs_filters(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant, other_tenant: Tenant, points_shop: Tenant
) -> None:
    await client.post(f"{PROGRAMS}/{other_tenant.program_id}/deactivate", headers=bearer(admin_key))

    async def ids(**params: str) -> list[int]:
        page = (await client.get(PROGRAMS, params=params, headers=bearer(admin_key))).json()
        assert page["total"] == len(page["items"])
        return [p["id"] for p in page["items"]]

    assert await ids(is_active="false") == [other_tenant.program_id]
    assert await ids(is_active="true") == [tenant.program_id, points_shop.program_id]
    assert await ids(program_type="points") == [points_shop.program_id]
    assert await ids(program_type="stamps") == []
    assert await ids(search="READER") == [points_shop.program_id]  # programme name, any case
    assert await ids(search="bakery") == [other_tenant.program_id]  # vendor name
    assert await ids(search="card", is_active="true") == [tenant.program_id]
    assert await ids(program_type="hybrid", is_active="false") == [other_tenant.program_id]


@pytest.mark.parametrize(
    ("params", "field"),
    [({"program_type": "coupons"}, "program_type"), ({"is_active": "maybe"}, "is_active"), ({"limit": 500}, "limit")],
)
async def test_list_programs_rejects_bad_filters(
    client: httpx.AsyncClient, admin_key: str, params: dict[str, Any], field: str
) -> None:
    response = await client.get(PROGRAMS, params=params, headers=bearer(admin_key))

    assert response.status_code == 422
    assert response.json()["error_code"] == "VALIDATION_ERROR"
    assert [e["field"] for e in response.json()["details"]["errors"]] == [field]


async def test_get_program_matches_the_vendors_view(client: httpx.AsyncClient, admin_key: str, tenant: Tenant) -> None:
    admin_view = await client.get(f"{PROGRAMS}/{tenant.program_id}", headers=bearer(admin_key))
    vendor_view = await client.get(VENDOR_PROGRAM, headers=tenant.headers)

    assert admin_view.status_code == 200
    assert admin_view.json() == {**vendor_view.json(), "vendor_name": "Cafe-One"}


@pytest.mark.parametrize("suffix", ["", "/stats", "/activate", "/deactivate"])
async def test_unknown_program_is_404(client: httpx.AsyncClient, admin_key: str, tenant: Tenant, suffix: str) -> None:
    method = "POST" if suffix.endswith("activate") else "GET"

    response = await client.request(method, f"{PROGRAMS}/{tenant.program_id + 100}{suffix}", headers=bearer(admin_key))

    assert response.status_code == 404
    assert response.json()["error_code"] == "LOYALTY_PROGRAM_NOT_FOUND"
    assert response.json()["details"] == {"identifier": tenant.program_id + 100}


# --- activate / deactivate -------------------------------------------------------------------------


async def test_deactivate_then_activate(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant, clock: FixedClock
) -> None:
    created_at = (await client.get(VENDOR_PROGRAM, headers=tenant.headers)).json()["created_at"]
    clock.advance(timedelta(hours=2))

    off = await client.post(f"{PROGRAMS}/{tenant.program_id}/deactivate", headers=bearer(admin_key))

    assert off.status_code == 200
    assert (off.json()["is_active"], off.json()["vendor_name"]) == (False, "Cafe-One")
    assert off.json()["created_at"] == created_at
    assert off.json()["updated_at"].replace("Z", "+00:00") == clock.now().isoformat()
    assert (await client.get(VENDOR_PROGRAM, headers=tenant.headers)).json()["is_active"] is False

    on = await client.post(f"{PROGRAMS}/{tenant.program_id}/activate", headers=bearer(admin_key))

    assert (on.status_code, on.json()["is_active"]) == (200, True)
    assert (await client.get(f"{PROGRAMS}/{tenant.program_id}", headers=bearer(admin_key))).json()["is_active"] is True


async def test_deactivating_one_programme_leaves_the_others(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant, other_tenant: Tenant
) -> None:
    await client.post(f"{PROGRAMS}/{tenant.program_id}/deactivate", headers=bearer(admin_key))

    other = await client.get(f"{PROGRAMS}/{other_tenant.program_id}", headers=bearer(admin_key))

    assert other.json()["is_active"] is True


# --- statistics ------------------------------------------------------------------------------------


async def test_program_stats_count_the_seeded_activity(
    client: httpx.AsyncClient,
    admin_key: str,
    tenant: Tenant,
    other_tenant: Tenant,
    database: Database,
    settings: Settings,
    clock: FixedClock,
) -> None:
    # 4 stamps on a 3-stamp card: the 3rd fills it and is redeemed; 12 + 0 + 99 points.
    entries = await seed_activity(database, settings, clock, tenant, stamps_given=4, purchases=(1250, 99, 9999))

    response = await client.get(f"{PROGRAMS}/{tenant.program_id}/stats", headers=bearer(admin_key))

    assert response.status_code == 200
    figures = response.json()
    assert entries == 8
    assert {k: v for k, v in figures.items() if k != "daily"} == {
        "total_cards": 1,
        "active_cards_30d": 1,
        "stamps_issued": 4,
        "stamps_redeemed": 1,
        "points_issued": 111,
        "points_redeemed": 0,
        "transactions_30d": 8,
    }
    daily = figures["daily"]
    assert len(daily) == 30
    assert daily[-1] == {"date": "2026-11-21", "stamps": 4, "points_earned": 111, "redemptions": 1, "new_cards": 1}
    assert daily[0]["date"] == "2026-10-23"
    assert all(
        day == {"date": day["date"], "stamps": 0, "points_earned": 0, "redemptions": 0, "new_cards": 0}
        for day in daily[:-1]
    )
    # The other vendor's programme saw none of it.
    other = (await client.get(f"{PROGRAMS}/{other_tenant.program_id}/stats", headers=bearer(admin_key))).json()
    assert (other["total_cards"], other["stamps_issued"], other["transactions_30d"]) == (1, 0, 0)


async def test_program_stats_days_are_the_vendors_local_days(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant, database: Database, settings: Settings, clock: FixedClock
) -> None:
    # 23:30 UTC on 21 November is 00:30 on the 22nd in Luxembourg (UTC+1).
    clock.current = clock.current.replace(hour=23, minute=30)
    await seed_activity(database, settings, clock, tenant, stamps_given=1)

    daily = (await client.get(f"{PROGRAMS}/{tenant.program_id}/stats", headers=bearer(admin_key))).json()["daily"]

    assert daily[-1]["date"] == "2026-11-22"
    assert (daily[-1]["stamps"], daily[-1]["new_cards"]) == (1, 0)
    assert (daily[-2]["date"], daily[-2]["stamps"], daily[-2]["new_cards"]) == ("2026-11-21", 0, 1)


async def test_activity_older_than_30_days_leaves_the_30_day_figures(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant, database: Database, settings: Settings, clock: FixedClock
) -> None:
    await seed_activity(database, settings, clock, tenant, stamps_given=1)
    clock.advance(timedelta(days=31))

    figures = (await client.get(f"{PROGRAMS}/{tenant.program_id}/stats", headers=bearer(admin_key))).json()

    assert (figures["stamps_issued"], figures["active_cards_30d"], figures["transactions_30d"]) == (1, 0, 0)
    assert date.fromisoformat(figures["daily"][-1]["date"]) == date(2026, 12, 22)
    assert sum(day["stamps"] + day["new_cards"] for day in figures["daily"]) == 0


async def test_platform_stats_totals(
    client: httpx.AsyncClient,
    admin_key: str,
    tenant: Tenant,
    other_tenant: Tenant,
    points_shop: Tenant,
    database: Database,
    settings: Settings,
    clock: FixedClock,
) -> None:
    await seed_activity(database, settings, clock, tenant, stamps_given=3, purchases=(500,))
    await seed_activity(database, settings, clock, other_tenant, stamps_given=1)
    await seed_activity(database, settings, clock, points_shop, purchases=(2000, 350))
    await client.post(f"{PROGRAMS}/{points_shop.program_id}/deactivate", headers=bearer(admin_key))
    await client.post("/api/v1/admin/loyalty/vendors", json={"name": "No Programme Yet"}, headers=bearer(admin_key))

    response = await client.get(PLATFORM_STATS, headers=bearer(admin_key))

    assert response.status_code == 200
    assert response.json() == {
        "vendors": 4,
        "programs": 3,
        "active_programs": 2,
        "cards": 3,
        "transactions": 8,  # 3 stamps + 1 redemption + 1 earn; 1 stamp; 2 earns
        "stamps_issued": 4,
        "points_issued": 28,  # 5 + 20 + 3
    }


async def test_platform_stats_of_an_empty_platform(client: httpx.AsyncClient, admin_key: str) -> None:
    response = await client.get(PLATFORM_STATS, headers=bearer(admin_key))

    assert response.json() == {
        "vendors": 0,
        "programs": 0,
        "active_programs": 0,
        "cards": 0,
        "transactions": 0,
        "stamps_issued": 0,
        "points_issued": 0,
    }


async def test_program_search_treats_like_wildcards_as_plain_characters(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant, other_tenant: Tenant
) -> None:
    page = (await client.get(PROGRAMS, params={"search": "_"}, headers=bearer(admin_key))).json()

    assert (page["items"], page["total"]) == ([], 0)
