"""POST /api-keys/rotate: a vendor replaces its own key (issue 11, 14(c)); the new key is shown once, the
calling key is revoked at once."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.api.helpers import assert_error, bearer
from tests.fixtures import START
from tests.tenants import Tenant

pytestmark = pytest.mark.anyio

ADMIN = "/api/v1/admin/loyalty"
V = "/api/v1/vendor/loyalty"
ROTATE = f"{V}/api-keys/rotate"


async def _keys(client: httpx.AsyncClient, admin_key: str, tenant: Tenant) -> list[dict[str, object]]:
    response = await client.get(f"{ADMIN}/vendors/{tenant.vendor_id}/api-keys", headers=bearer(admin_key))
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


async def test_an_owner_key_rotates_itself(client: httpx.AsyncClient, admin_key: str, tenant: Tenant) -> None:
    (old,) = await _keys(client, admin_key, tenant)

    response = await client.post(ROTATE, headers=tenant.headers)

    assert response.status_code == 201, response.text
    new = response.json()
    assert (new["name"], new["scope"], new["vendor_id"]) == (old["name"], "owner", tenant.vendor_id)
    assert new["id"] != old["id"] and new["key"] != tenant.key and new["key"].startswith(new["key_prefix"])
    assert new["created_at"] == START.isoformat()
    # The new key works, with the owner's rights; the old one is refused from now on.
    assert (await client.get(f"{V}/transactions", headers=bearer(new["key"]))).status_code == 200
    assert_error(await client.get(f"{V}/program", headers=tenant.headers), 401, "UNAUTHENTICATED")
    listed = {key["id"]: key for key in await _keys(client, admin_key, tenant)}
    assert listed[old["id"]]["revoked_at"] == START.isoformat() and listed[new["id"]]["revoked_at"] is None
    assert new["key"] not in str(listed)


async def test_a_counter_key_rotates_itself_and_stays_a_counter_key(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant
) -> None:
    issued = await client.post(
        f"{ADMIN}/vendors/{tenant.vendor_id}/api-keys", json={"name": "till 1", "scope": "counter"},
        headers=bearer(admin_key),
    )  # fmt: skip
    counter = issued.json()

    response = await client.post(ROTATE, headers=bearer(counter["key"]))

    assert response.status_code == 201, response.text
    new = response.json()
    assert (new["name"], new["scope"]) == ("till 1", "counter")
    stamp = {"card_id": tenant.card_id, "staff_pin": tenant.pin}
    assert (await client.post(f"{V}/stamp", json=stamp, headers=bearer(new["key"]))).status_code == 201
    assert_error(await client.get(f"{V}/transactions", headers=bearer(new["key"])), 403, "FORBIDDEN")
    assert_error(await client.post(f"{V}/stamp", json=stamp, headers=bearer(counter["key"])), 401, "UNAUTHENTICATED")
    # The vendor's other key is untouched.
    assert (await client.get(f"{V}/program", headers=tenant.headers)).status_code == 200


async def test_a_rotated_key_cannot_rotate_again_and_an_admin_key_cannot_rotate(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant
) -> None:
    first = await client.post(ROTATE, headers=tenant.headers)

    again = await client.post(ROTATE, headers=tenant.headers)
    admin = await client.post(ROTATE, headers=bearer(admin_key))
    nobody = await client.post(ROTATE)

    assert first.status_code == 201
    assert_error(again, 401, "UNAUTHENTICATED")
    assert_error(admin, 403, "FORBIDDEN")
    assert_error(nobody, 401, "UNAUTHENTICATED")
    assert len(await _keys(client, admin_key, tenant)) == 2


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # row locks decide the race
async def test_two_rotations_at_once_with_one_key_give_one_new_key(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant
) -> None:
    answers = await asyncio.gather(*(client.post(ROTATE, headers=tenant.headers) for _ in range(4)))

    assert sorted(answer.status_code for answer in answers) == [201, 401, 401, 401]
    keys = await _keys(client, admin_key, tenant)
    assert len(keys) == 2 and [key["revoked_at"] is None for key in keys] == [False, True]
