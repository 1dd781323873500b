"""API.md's conventions that hold for every route: timestamps with a numeric offset, paging limits."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.tenants import Tenant

pytestmark = pytest.mark.anyio

OFFSET_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$")


async def test_timestamps_carry_a_numeric_offset(client: httpx.AsyncClient, tenant: Tenant) -> None:
    stamped = await client.post(
        "/api/v1/vendor/loyalty/stamp",
        json={"card_id": tenant.card_id, "staff_pin": tenant.pin},
        headers=tenant.headers,
    )
    card = (await client.get(f"/api/v1/vendor/loyalty/cards/{tenant.card_id}", headers=tenant.headers)).json()
    entries = (await client.get("/api/v1/vendor/loyalty/transactions", headers=tenant.headers)).json()["items"]
    for value in (
        stamped.json()["next_stamp_available_at"],
        card["enrolled_at"],
        card["last_stamp_at"],
        entries[0]["transaction_at"],
    ):
        assert OFFSET_TIMESTAMP.match(value), value


@pytest.mark.parametrize(
    ("query", "status"), [("limit=200", 200), ("limit=201", 422), ("limit=0", 422), ("offset=-1", 422)]
)
async def test_list_limits(client: httpx.AsyncClient, tenant: Tenant, query: str, status: int) -> None:
    response = await client.get(f"/api/v1/vendor/loyalty/cards?{query}", headers=tenant.headers)
    assert response.status_code == status
    if status == 200:
        assert set(response.json()) == {"items", "total", "limit", "offset"}
        assert response.json()["limit"] == 200


async def test_a_timezone_that_depends_on_the_server_is_refused(client: httpx.AsyncClient, admin_key: str) -> None:
    response = await client.post(
        "/api/v1/admin/loyalty/vendors",
        json={"name": "Odd", "timezone": "localtime"},
        headers={"Authorization": f"Bearer {admin_key}"},
    )
    assert response.status_code == 422
    assert response.json()["details"]["errors"][0]["field"] == "timezone"
