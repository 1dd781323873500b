"""Admin vendors and API keys: create, list/search, read, change, switch off and on; issue a vendor's keys,
list them, revoke one."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import Any

import httpx
import pytest

from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.services.vendors import SLUG_PATTERN
from tests.api.helpers import assert_error, bearer
from tests.fixtures import START
from tests.tenants import Tenant

pytestmark = pytest.mark.anyio

VENDORS = "/api/v1/admin/loyalty/vendors"
API_KEYS = "/api/v1/admin/loyalty/api-keys"
VENDOR_V = "/api/v1/vendor/loyalty"
VENDOR_PROGRAM = f"{VENDOR_V}/program"
PUBLIC_PROGRAMS = "/api/v1/loyalty/programs"


def error_fields(response: httpx.Response) -> set[str]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error_code"] == "VALIDATION_ERROR"
    return {error["field"] for error in body["details"]["errors"]}


async def create_vendor(client: httpx.AsyncClient, admin_key: str, **body: Any) -> dict[str, Any]:
    response = await client.post(VENDORS, json=body, headers=bearer(admin_key))
    assert response.status_code == 201, response.text
    vendor: dict[str, Any] = response.json()
    return vendor


# --- create ----------------------------------------------------------------------------------------


async def test_create_vendor_takes_the_defaults(client: httpx.AsyncClient, admin_key: str) -> None:
    vendor = await create_vendor(client, admin_key, name="Café Sörensen & Co")

    assert vendor["name"] == "Café Sörensen & Co"
    assert vendor["slug"] == "cafe-sorensen-co"
    assert vendor["timezone"] == "Europe/Luxembourg"
    assert vendor["default_locale"] == "en"
    assert vendor["created_at"].replace("Z", "+00:00") == START.isoformat()
    assert isinstance(vendor["id"], int)


async def test_create_vendor_with_every_field(client: httpx.AsyncClient, admin_key: str) -> None:
    vendor = await create_vendor(
        client, admin_key, name="Bäckerei", slug="baeckerei-1", timezone="America/New_York", default_locale="lu"
    )

    assert (vendor["slug"], vendor["timezone"], vendor["default_locale"]) == ("baeckerei-1", "America/New_York", "lb")
    read = await client.get(f"{VENDORS}/{vendor['id']}", headers=bearer(admin_key))
    assert read.json() == vendor


async def test_create_vendor_with_a_taken_slug_is_a_conflict(client: httpx.AsyncClient, admin_key: str) -> None:
    await create_vendor(client, admin_key, name="Corner Shop")

    response = await client.post(VENDORS, json={"name": "Other", "slug": "corner-shop"}, headers=bearer(admin_key))

    assert response.status_code == 409
    assert response.json()["error_code"] == "VENDOR_ALREADY_EXISTS"
    listed = await client.get(VENDORS, headers=bearer(admin_key))
    assert listed.json()["total"] == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "X", "timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"name": "X", "timezone": ""}, "timezone"),
        ({"name": "X", "default_locale": "es"}, "default_locale"),
        ({"name": "X", "slug": "Not A Slug"}, "slug"),
        ({"name": ""}, "name"),
        ({"slug": "no-name"}, "name"),
    ],
)
async def test_create_vendor_rejects_invalid_fields(
    client: httpx.AsyncClient, admin_key: str, body: dict[str, Any], field: str | None
) -> None:
    response = await client.post(VENDORS, json=body, headers=bearer(admin_key))

    assert error_fields(response) == {field}


# --- auth ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", VENDORS),
        ("GET", VENDORS),
        ("GET", f"{VENDORS}/1"),
        ("POST", f"{VENDORS}/1/api-keys"),
        ("GET", f"{VENDORS}/1/api-keys"),
        ("PATCH", f"{VENDORS}/1"),
        ("POST", f"{VENDORS}/1/deactivate"),
        ("POST", f"{VENDORS}/1/activate"),
        ("DELETE", f"{API_KEYS}/1"),
    ],
)
async def test_admin_vendor_routes_need_an_admin_key(
    client: httpx.AsyncClient, tenant: Tenant, method: str, path: str
) -> None:
    body = {"name": "Anything"} if method in ("POST", "PATCH") and not path.endswith("activate") else None

    missing = await client.request(method, path, json=body)
    unknown = await client.request(method, path, json=body, headers=bearer("lyk_admin_not-a-real-key"))
    vendor_key = await client.request(method, path, json=body, headers=tenant.headers)

    assert (missing.status_code, missing.json()["error_code"]) == (401, "UNAUTHENTICATED")
    assert (unknown.status_code, unknown.json()["error_code"]) == (401, "UNAUTHENTICATED")
    assert (vendor_key.status_code, vendor_key.json()["error_code"]) == (403, "FORBIDDEN")


# --- list and read ---------------------------------------------------------------------------------


async def test_list_vendors_pages_in_creation_order(client: httpx.AsyncClient, admin_key: str) -> None:
    created = [await create_vendor(client, admin_key, name=f"Shop {n}") for n in range(5)]

    first = (await client.get(VENDORS, params={"limit": 2}, headers=bearer(admin_key))).json()
    last = (await client.get(VENDORS, params={"limit": 2, "offset": 4}, headers=bearer(admin_key))).json()
    beyond = (await client.get(VENDORS, params={"offset": 10}, headers=bearer(admin_key))).json()

    assert (first["total"], first["limit"], first["offset"]) == (5, 2, 0)
    assert [v["id"] for v in first["items"]] == [created[0]["id"], created[1]["id"]]
    assert first["items"][0] == created[0]
    assert ([v["id"] for v in last["items"]], last["offset"]) == ([created[4]["id"]], 4)
    assert (beyond["items"], beyond["total"]) == ([], 5)


async def test_list_vendors_default_page_size(client: httpx.AsyncClient, admin_key: str) -> None:
    page = (await client.get(VENDORS, headers=bearer(admin_key))).json()

    assert (page["items"], page["total"], page["limit"], page["offset"]) == ([], 0, 50, 0)


@pytest.mark.parametrize(
    ("params", "field"), [({"limit": 201}, "limit"), ({"limit": 0}, "limit"), ({"offset": -1}, "offset")]
)
async def test_list_vendors_rejects_bad_paging(
    client: httpx.AsyncClient, admin_key: str, params: dict[str, Any], field: str | None
) -> None:
    response = await client.get(VENDORS, params=params, headers=bearer(admin_key))

    assert error_fields(response) == {field}


async def test_search_vendors_by_name_or_slug_ignoring_case(client: httpx.AsyncClient, admin_key: str) -> None:
    bakery = await create_vendor(client, admin_key, name="Golden Bakery", slug="golden")
    await create_vendor(client, admin_key, name="Blue Café", slug="blue-cafe")
    corner = await create_vendor(client, admin_key, name="Corner", slug="the-bakery-corner")

    by_name = (await client.get(VENDORS, params={"search": "BAKERY"}, headers=bearer(admin_key))).json()
    by_slug = (await client.get(VENDORS, params={"search": "golden"}, headers=bearer(admin_key))).json()
    nothing = (await client.get(VENDORS, params={"search": "pizza"}, headers=bearer(admin_key))).json()

    assert ([v["id"] for v in by_name["items"]], by_name["total"]) == ([bakery["id"], corner["id"]], 2)
    assert [v["id"] for v in by_slug["items"]] == [bakery["id"]]
    assert (nothing["items"], nothing["total"]) == ([], 0)


async def test_get_unknown_vendor_is_404(client: httpx.AsyncClient, admin_key: str) -> None:
    response = await client.get(f"{VENDORS}/424242", headers=bearer(admin_key))

    assert response.status_code == 404
    assert response.json()["error_code"] == "VENDOR_NOT_FOUND"
    assert response.json()["details"] == {"identifier": 424242}


@pytest.mark.parametrize("vendor_id", ["abc", "0", str(2**63)])
async def test_get_vendor_with_an_impossible_id_is_422(
    client: httpx.AsyncClient, admin_key: str, vendor_id: str
) -> None:
    response = await client.get(f"{VENDORS}/{vendor_id}", headers=bearer(admin_key))

    assert error_fields(response) == {"vendor_id"}


# --- API keys --------------------------------------------------------------------------------------


async def issue_key(client: httpx.AsyncClient, admin_key: str, vendor_id: int, name: str = "till 1") -> httpx.Response:
    return await client.post(f"{VENDORS}/{vendor_id}/api-keys", json={"name": name}, headers=bearer(admin_key))


async def test_issued_key_is_shown_once_and_acts_for_its_vendor(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant
) -> None:
    vendor = await create_vendor(client, admin_key, name="New Shop")

    response = await issue_key(client, admin_key, vendor["id"])

    assert response.status_code == 201, response.text
    issued = response.json()
    assert issued["name"] == "till 1"
    assert issued["vendor_id"] == vendor["id"]
    assert issued["key"].startswith(issued["key_prefix"])
    assert len(issued["key"]) > 40
    assert issued["created_at"].replace("Z", "+00:00") == START.isoformat()
    # The key authenticates as that vendor: it sees that vendor's (missing) programme, not the tenant's.
    program = await client.get(VENDOR_PROGRAM, headers=bearer(issued["key"]))
    assert program.status_code == 404
    assert program.json()["details"] == {"identifier": vendor["id"]}
    # Shown once: nothing the admin can read afterwards carries it.
    read = await client.get(f"{VENDORS}/{vendor['id']}", headers=bearer(admin_key))
    assert issued["key"] not in read.text


async def test_a_second_key_for_an_existing_vendor_reaches_its_programme(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant
) -> None:
    issued = (await issue_key(client, admin_key, tenant.vendor_id, name="till 2")).json()

    program = await client.get(VENDOR_PROGRAM, headers=bearer(issued["key"]))

    assert program.status_code == 200
    assert program.json()["id"] == tenant.program_id
    assert issued["key"] != tenant.key


async def test_issue_key_for_unknown_vendor_is_404(client: httpx.AsyncClient, admin_key: str) -> None:
    response = await issue_key(client, admin_key, 999)

    assert response.status_code == 404
    assert response.json()["error_code"] == "VENDOR_NOT_FOUND"
    assert response.json()["details"] == {"identifier": 999}


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": "x" * 201}])
async def test_issue_key_needs_a_name(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant, body: dict[str, Any]
) -> None:
    response = await client.post(f"{VENDORS}/{tenant.vendor_id}/api-keys", json=body, headers=bearer(admin_key))

    assert error_fields(response) == {"name"}


async def test_revoked_key_stops_working_at_once(client: httpx.AsyncClient, admin_key: str, tenant: Tenant) -> None:
    spare = (await issue_key(client, admin_key, tenant.vendor_id, name="spare")).json()
    assert (await client.get(VENDOR_PROGRAM, headers=bearer(spare["key"]))).status_code == 200

    revoked = await client.delete(f"{API_KEYS}/{spare['id']}", headers=bearer(admin_key))

    assert revoked.status_code == 204
    assert revoked.content == b""
    after = await client.get(VENDOR_PROGRAM, headers=bearer(spare["key"]))
    assert (after.status_code, after.json()["error_code"]) == (401, "UNAUTHENTICATED")
    # The vendor's other key is untouched.
    assert (await client.get(VENDOR_PROGRAM, headers=tenant.headers)).status_code == 200


async def test_revoking_twice_is_harmless(client: httpx.AsyncClient, admin_key: str, tenant: Tenant) -> None:
    spare = (await issue_key(client, admin_key, tenant.vendor_id)).json()

    first = await client.delete(f"{API_KEYS}/{spare['id']}", headers=bearer(admin_key))
    second = await client.delete(f"{API_KEYS}/{spare['id']}", headers=bearer(admin_key))

    assert (first.status_code, second.status_code) == (204, 204)
    assert (await client.get(VENDOR_PROGRAM, headers=bearer(spare["key"]))).status_code == 401


async def test_revoke_unknown_key_is_404(client: httpx.AsyncClient, admin_key: str) -> None:
    response = await client.delete(f"{API_KEYS}/31337", headers=bearer(admin_key))

    assert response.status_code == 404
    assert response.json()["error_code"] == "API_KEY_NOT_FOUND"  # its own code, not an unknown route's
    assert response.json()["details"] == {"identifier": 31337}


@pytest.mark.parametrize("term", ["%", "_", "50%"])
async def test_search_treats_like_wildcards_as_plain_characters(
    client: httpx.AsyncClient, admin_key: str, term: str
) -> None:
    await create_vendor(client, admin_key, name="Plain Shop", slug="plain-shop")
    percent = await create_vendor(client, admin_key, name="50% Off Store", slug="fifty-off")

    found = (await client.get(VENDORS, params={"search": term}, headers=bearer(admin_key))).json()

    expected = [] if term == "_" else [percent["id"]]
    assert [v["id"] for v in found["items"]] == expected


async def test_a_slug_made_from_a_long_name_is_a_valid_slug(client: httpx.AsyncClient, admin_key: str) -> None:
    vendor = await create_vendor(client, admin_key, name="a" * 99 + " b c")

    assert vendor["slug"] == "a" * 90  # room left for a `-N` suffix within 100 characters
    assert re.fullmatch(SLUG_PATTERN, vendor["slug"])


async def test_a_vendor_without_a_slug_always_gets_a_free_readable_one(
    client: httpx.AsyncClient, admin_key: str
) -> None:
    """A peer system's fault: names with no Latin letters all became `vendor`, and the second one a 409."""
    names = ["東京カフェ", "北京茶馆", "Кофейня Маша", "Ελληνικό Καφέ", "Bäckerei Schmit", "Bäckerei Schmit", "☕"]
    slugs = []
    for name in names:
        response = await client.post(VENDORS, json={"name": name}, headers=bearer(admin_key))
        assert response.status_code == 201, response.text
        slugs.append(response.json()["slug"])

    assert slugs == [
        "dong-jing-kahue",
        "bei-jing-cha-guan",
        "kofeinia-masha",
        "elleniko-kaphe",
        "backerei-schmit",
        "backerei-schmit-2",
        "vendor",
    ]
    taken = await client.post(VENDORS, json={"name": "Another", "slug": "backerei-schmit"}, headers=bearer(admin_key))
    assert_error(taken, 409, "VENDOR_ALREADY_EXISTS")


# --- a vendor's keys, listed -----------------------------------------------------------------------


async def test_a_vendors_keys_are_listed_oldest_first_without_secret_or_hash(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant, clock: FixedClock
) -> None:
    """Issue 11, 14(a): an operator who did not keep a key's id finds it here, by name and prefix."""
    clock.advance(timedelta(minutes=1))
    till = (await issue_key(client, admin_key, tenant.vendor_id, name="till 2")).json()
    await client.delete(f"{API_KEYS}/{till['id']}", headers=bearer(admin_key))

    response = await client.get(f"{VENDORS}/{tenant.vendor_id}/api-keys", headers=bearer(admin_key))

    assert response.status_code == 200, response.text
    page = response.json()
    assert (page["total"], page["limit"], page["offset"]) == (2, 50, 0)
    first, second = page["items"]
    assert set(first) == {"id", "name", "key_prefix", "scope", "created_at", "revoked_at"}
    assert (first["name"], first["scope"], first["revoked_at"]) == ("counter", "owner", None)
    assert tenant.key.startswith(first["key_prefix"])
    assert (second["id"], second["name"], second["key_prefix"]) == (till["id"], "till 2", till["key_prefix"])
    assert second["created_at"] == (START + timedelta(minutes=1)).isoformat()
    assert second["revoked_at"] == (START + timedelta(minutes=1)).isoformat()
    assert tenant.key not in response.text and till["key"] not in response.text
    assert hashlib.sha256(tenant.key.encode()).hexdigest() not in response.text


async def test_listing_keys_shows_only_that_vendors(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant, other_tenant: Tenant
) -> None:
    mine = (await client.get(f"{VENDORS}/{tenant.vendor_id}/api-keys", headers=bearer(admin_key))).json()
    unknown = await client.get(f"{VENDORS}/424242/api-keys", headers=bearer(admin_key))
    as_vendor = await client.get(f"{VENDORS}/{tenant.vendor_id}/api-keys", headers=tenant.headers)

    assert mine["total"] == 1 and other_tenant.key[:14] not in {key["key_prefix"] for key in mine["items"]}
    assert_error(unknown, 404, "VENDOR_NOT_FOUND")
    assert_error(as_vendor, 403, "FORBIDDEN")


# --- a vendor, changed -----------------------------------------------------------------------------


async def test_patch_changes_only_the_fields_given(client: httpx.AsyncClient, admin_key: str, tenant: Tenant) -> None:
    url = f"{VENDORS}/{tenant.vendor_id}"
    before = (await client.get(url, headers=bearer(admin_key))).json()

    response = await client.patch(
        url, json={"name": "Café Un", "timezone": "America/New_York", "default_locale": "lu"}, headers=bearer(admin_key)
    )

    assert response.status_code == 200, response.text
    assert response.json() == {
        **before, "name": "Café Un", "timezone": "America/New_York", "default_locale": "lb"
    }  # fmt: skip
    assert response.json()["slug"] == tenant.slug  # not given, not changed (not re-made from the new name)
    assert (await client.get(url, headers=bearer(admin_key))).json() == response.json()


async def test_patch_moves_the_public_address_to_a_free_slug(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant
) -> None:
    response = await client.patch(f"{VENDORS}/{tenant.vendor_id}", json={"slug": "cafe-un"}, headers=bearer(admin_key))

    assert response.status_code == 200 and response.json()["slug"] == "cafe-un"
    assert (await client.get(f"{PUBLIC_PROGRAMS}/cafe-un")).status_code == 200
    assert_error(await client.get(f"{PUBLIC_PROGRAMS}/{tenant.slug}"), 404, "LOYALTY_PROGRAM_NOT_FOUND")


async def test_patch_to_a_taken_slug_is_a_conflict_and_changes_nothing(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant, other_tenant: Tenant
) -> None:
    url = f"{VENDORS}/{tenant.vendor_id}"

    taken = await client.patch(url, json={"name": "Renamed", "slug": other_tenant.slug}, headers=bearer(admin_key))
    own = await client.patch(url, json={"slug": tenant.slug}, headers=bearer(admin_key))

    assert_error(taken, 409, "VENDOR_ALREADY_EXISTS")
    assert own.status_code == 200 and own.json()["slug"] == tenant.slug and own.json()["name"] == "Cafe-One"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": None}, None),
        ({"timezone": None}, None),
        ({"slug": None}, None),
        ({"name": ""}, "name"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"default_locale": "es"}, "default_locale"),
        ({"slug": "Not A Slug"}, "slug"),
    ],
)
async def test_patch_rejects_invalid_or_null_fields(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant, body: dict[str, Any], field: str | None
) -> None:
    response = await client.patch(f"{VENDORS}/{tenant.vendor_id}", json=body, headers=bearer(admin_key))

    details = assert_error(response, 422, "VALIDATION_ERROR")
    if field is None:  # a null: the whole body is refused, naming the field in its message
        assert next(iter(body)) in details["errors"][0]["message"]
    else:
        assert {error["field"] for error in details["errors"]} == {field}


async def test_patch_of_an_unknown_vendor_is_404(client: httpx.AsyncClient, admin_key: str) -> None:
    assert_error(await client.patch(f"{VENDORS}/424242", json={"name": "X"}, headers=bearer(admin_key)), 404,
                 "VENDOR_NOT_FOUND")  # fmt: skip


# --- a vendor, switched off and on -----------------------------------------------------------------


async def test_a_deactivated_vendors_keys_stop_at_once_and_the_admin_still_sees_it(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant
) -> None:
    """Issue 11, 14(b). 403, not 401: the key is genuine (not counted as a wrong key against the shop's
    address), and the answer says why, which no new key would change."""
    counter = (await client.post(f"{VENDORS}/{tenant.vendor_id}/api-keys", json={"name": "till", "scope": "counter"},
                                 headers=bearer(admin_key))).json()  # fmt: skip
    stamp = {"card_id": tenant.card_id, "staff_pin": tenant.pin}

    off = await client.post(f"{VENDORS}/{tenant.vendor_id}/deactivate", headers=bearer(admin_key))

    assert off.status_code == 200 and off.json()["is_active"] is False
    for key in (tenant.key, counter["key"]):
        details = assert_error(await client.get(VENDOR_PROGRAM, headers=bearer(key)), 403, "FORBIDDEN")
        assert details == {"reason": "vendor_inactive"}
    refused = await client.post(f"{VENDOR_V}/stamp", json=stamp, headers=tenant.headers)
    assert assert_error(refused, 403, "FORBIDDEN") == {"reason": "vendor_inactive"}
    rotate = await client.post(f"{VENDOR_V}/api-keys/rotate", headers=tenant.headers)
    assert_error(rotate, 403, "FORBIDDEN")
    # The admin still sees it, in the list (filtered or not) and by id.
    read = (await client.get(f"{VENDORS}/{tenant.vendor_id}", headers=bearer(admin_key))).json()
    listed = (await client.get(VENDORS, headers=bearer(admin_key))).json()["items"]
    inactive = (await client.get(VENDORS, params={"is_active": False}, headers=bearer(admin_key))).json()["items"]
    active = (await client.get(VENDORS, params={"is_active": True}, headers=bearer(admin_key))).json()["items"]
    assert read["is_active"] is False and [v["id"] for v in listed] == [v["id"] for v in inactive] == [tenant.vendor_id]
    assert active == []

    on = await client.post(f"{VENDORS}/{tenant.vendor_id}/activate", headers=bearer(admin_key))

    assert on.status_code == 200 and on.json()["is_active"] is True
    assert (await client.get(VENDOR_PROGRAM, headers=tenant.headers)).status_code == 200
    assert (await client.post(f"{VENDOR_V}/stamp", json=stamp, headers=bearer(counter["key"]))).status_code == 201


async def test_a_deactivated_vendors_keys_do_not_count_as_wrong_keys(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant, settings: Settings
) -> None:
    """Refusals of a switched-off vendor's genuine key must not push its address towards 429."""
    await client.post(f"{VENDORS}/{tenant.vendor_id}/deactivate", headers=bearer(admin_key))

    answers = [await client.get(VENDOR_PROGRAM, headers=tenant.headers) for _ in range(settings.auth_failure_limit + 2)]

    assert {answer.status_code for answer in answers} == {403}


async def test_a_deactivated_vendors_public_programme_is_not_found(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant
) -> None:
    await client.post(f"{VENDORS}/{tenant.vendor_id}/deactivate", headers=bearer(admin_key))

    page = await client.get(f"{PUBLIC_PROGRAMS}/{tenant.slug}")
    enrol = await client.post(f"{PUBLIC_PROGRAMS}/{tenant.slug}/enroll", json={"email": "new@example.com"})

    assert_error(page, 404, "LOYALTY_PROGRAM_NOT_FOUND")
    assert_error(enrol, 404, "LOYALTY_PROGRAM_NOT_FOUND")


async def test_switching_a_vendor_twice_is_harmless_and_an_unknown_one_is_404(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant
) -> None:
    url = f"{VENDORS}/{tenant.vendor_id}"
    answers = [await client.post(f"{url}/{action}", headers=bearer(admin_key))
               for action in ("deactivate", "deactivate", "activate", "activate")]  # fmt: skip

    assert [(a.status_code, a.json()["is_active"]) for a in answers] == [
        (200, False),
        (200, False),
        (200, True),
        (200, True),
    ]
    assert_error(await client.post(f"{VENDORS}/424242/deactivate", headers=bearer(admin_key)), 404, "VENDOR_NOT_FOUND")
    assert_error(await client.post(f"{url}/activate", headers=tenant.headers), 403, "FORBIDDEN")
