"""Admin vendors and API keys: create, list/search, read, issue a key, revoke it."""

from __future__ import annotations

import re

import pytest

from loyalty.services.vendors import SLUG_PATTERN
from tests.api.conftest import assert_error, bearer
from tests.conftest import START

pytestmark = pytest.mark.anyio

VENDORS = "/api/v1/admin/loyalty/vendors"
API_KEYS = "/api/v1/admin/loyalty/api-keys"
VENDOR_PROGRAM = "/api/v1/vendor/loyalty/program"


def error_fields(response) -> set[str]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error_code"] == "VALIDATION_ERROR"
    return {error["field"] for error in body["details"]["errors"]}


async def create_vendor(client, admin_key, **body):
    response = await client.post(VENDORS, json=body, headers=bearer(admin_key))
    assert response.status_code == 201, response.text
    return response.json()


# --- create ----------------------------------------------------------------------------------------


async def test_create_vendor_takes_the_defaults(client, admin_key):
    vendor = await create_vendor(client, admin_key, name="Café Sörensen & Co")

    assert vendor["name"] == "Café Sörensen & Co"
    assert vendor["slug"] == "cafe-sorensen-co"
    assert vendor["timezone"] == "Europe/Luxembourg"
    assert vendor["default_locale"] == "en"
    assert vendor["created_at"].replace("Z", "+00:00") == START.isoformat()
    assert isinstance(vendor["id"], int)


async def test_create_vendor_with_every_field(client, admin_key):
    vendor = await create_vendor(
        client, admin_key, name="Bäckerei", slug="baeckerei-1", timezone="America/New_York", default_locale="lu"
    )

    assert (vendor["slug"], vendor["timezone"], vendor["default_locale"]) == ("baeckerei-1", "America/New_York", "lb")
    read = await client.get(f"{VENDORS}/{vendor['id']}", headers=bearer(admin_key))
    assert read.json() == vendor


async def test_create_vendor_with_a_taken_slug_is_a_conflict(client, admin_key):
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
async def test_create_vendor_rejects_invalid_fields(client, admin_key, body, field):
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
        ("DELETE", f"{API_KEYS}/1"),
    ],
)
async def test_admin_vendor_routes_need_an_admin_key(client, tenant, method, path):
    body = {"name": "Anything"} if method == "POST" else None

    missing = await client.request(method, path, json=body)
    unknown = await client.request(method, path, json=body, headers=bearer("lyk_admin_not-a-real-key"))
    vendor_key = await client.request(method, path, json=body, headers=tenant.headers)

    assert (missing.status_code, missing.json()["error_code"]) == (401, "UNAUTHENTICATED")
    assert (unknown.status_code, unknown.json()["error_code"]) == (401, "UNAUTHENTICATED")
    assert (vendor_key.status_code, vendor_key.json()["error_code"]) == (403, "FORBIDDEN")


# --- list and read ---------------------------------------------------------------------------------


async def test_list_vendors_pages_in_creation_order(client, admin_key):
    created = [await create_vendor(client, admin_key, name=f"Shop {n}") for n in range(5)]

    first = (await client.get(VENDORS, params={"limit": 2}, headers=bearer(admin_key))).json()
    last = (await client.get(VENDORS, params={"limit": 2, "offset": 4}, headers=bearer(admin_key))).json()
    beyond = (await client.get(VENDORS, params={"offset": 10}, headers=bearer(admin_key))).json()

    assert (first["total"], first["limit"], first["offset"]) == (5, 2, 0)
    assert [v["id"] for v in first["items"]] == [created[0]["id"], created[1]["id"]]
    assert first["items"][0] == created[0]
    assert ([v["id"] for v in last["items"]], last["offset"]) == ([created[4]["id"]], 4)
    assert (beyond["items"], beyond["total"]) == ([], 5)


async def test_list_vendors_default_page_size(client, admin_key):
    page = (await client.get(VENDORS, headers=bearer(admin_key))).json()

    assert (page["items"], page["total"], page["limit"], page["offset"]) == ([], 0, 50, 0)


@pytest.mark.parametrize(
    ("params", "field"), [({"limit": 201}, "limit"), ({"limit": 0}, "limit"), ({"offset": -1}, "offset")]
)
async def test_list_vendors_rejects_bad_paging(client, admin_key, params, field):
    response = await client.get(VENDORS, params=params, headers=bearer(admin_key))

    assert error_fields(response) == {field}


async def test_search_vendors_by_name_or_slug_ignoring_case(client, admin_key):
    bakery = await create_vendor(client, admin_key, name="Golden Bakery", slug="golden")
    await create_vendor(client, admin_key, name="Blue Café", slug="blue-cafe")
    corner = await create_vendor(client, admin_key, name="Corner", slug="the-bakery-corner")

    by_name = (await client.get(VENDORS, params={"search": "BAKERY"}, headers=bearer(admin_key))).json()
    by_slug = (await client.get(VENDORS, params={"search": "golden"}, headers=bearer(admin_key))).json()
    nothing = (await client.get(VENDORS, params={"search": "pizza"}, headers=bearer(admin_key))).json()

    assert ([v["id"] for v in by_name["items"]], by_name["total"]) == ([bakery["id"], corner["id"]], 2)
    assert [v["id"] for v in by_slug["items"]] == [bakery["id"]]
    assert (nothing["items"], nothing["total"]) == ([], 0)


async def test_get_unknown_vendor_is_404(client, admin_key):
    response = await client.get(f"{VENDORS}/424242", headers=bearer(admin_key))

    assert response.status_code == 404
    assert response.json()["error_code"] == "VENDOR_NOT_FOUND"
    assert response.json()["details"] == {"identifier": 424242}


@pytest.mark.parametrize("vendor_id", ["abc", "0", str(2**63)])
async def test_get_vendor_with_an_impossible_id_is_422(client, admin_key, vendor_id):
    response = await client.get(f"{VENDORS}/{vendor_id}", headers=bearer(admin_key))

    assert error_fields(response) == {"vendor_id"}


# --- API keys --------------------------------------------------------------------------------------


async def issue_key(client, admin_key, vendor_id, name="till 1"):
    return await client.post(f"{VENDORS}/{vendor_id}/api-keys", json={"name": name}, headers=bearer(admin_key))


async def test_issued_key_is_shown_once_and_acts_for_its_vendor(client, admin_key, tenant):
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


async def test_a_second_key_for_an_existing_vendor_reaches_its_programme(client, admin_key, tenant):
    issued = (await issue_key(client, admin_key, tenant.vendor_id, name="till 2")).json()

    program = await client.get(VENDOR_PROGRAM, headers=bearer(issued["key"]))

    assert program.status_code == 200
    assert program.json()["id"] == tenant.program_id
    assert issued["key"] != tenant.key


async def test_issue_key_for_unknown_vendor_is_404(client, admin_key):
    response = await issue_key(client, admin_key, 999)

    assert response.status_code == 404
    assert response.json()["error_code"] == "VENDOR_NOT_FOUND"
    assert response.json()["details"] == {"identifier": 999}


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": "x" * 201}])
async def test_issue_key_needs_a_name(client, admin_key, tenant, body):
    response = await client.post(f"{VENDORS}/{tenant.vendor_id}/api-keys", json=body, headers=bearer(admin_key))

    assert error_fields(response) == {"name"}


async def test_revoked_key_stops_working_at_once(client, admin_key, tenant):
    spare = (await issue_key(client, admin_key, tenant.vendor_id, name="spare")).json()
    assert (await client.get(VENDOR_PROGRAM, headers=bearer(spare["key"]))).status_code == 200

    revoked = await client.delete(f"{API_KEYS}/{spare['id']}", headers=bearer(admin_key))

    assert revoked.status_code == 204
    assert revoked.content == b""
    after = await client.get(VENDOR_PROGRAM, headers=bearer(spare["key"]))
    assert (after.status_code, after.json()["error_code"]) == (401, "UNAUTHENTICATED")
    # The vendor's other key is untouched.
    assert (await client.get(VENDOR_PROGRAM, headers=tenant.headers)).status_code == 200


async def test_revoking_twice_is_harmless(client, admin_key, tenant):
    spare = (await issue_key(client, admin_key, tenant.vendor_id)).json()

    first = await client.delete(f"{API_KEYS}/{spare['id']}", headers=bearer(admin_key))
    second = await client.delete(f"{API_KEYS}/{spare['id']}", headers=bearer(admin_key))

    assert (first.status_code, second.status_code) == (204, 204)
    assert (await client.get(VENDOR_PROGRAM, headers=bearer(spare["key"]))).status_code == 401


async def test_revoke_unknown_key_is_404(client, admin_key):
    response = await client.delete(f"{API_KEYS}/31337", headers=bearer(admin_key))

    assert response.status_code == 404
    assert response.json()["error_code"] == "NOT_FOUND"
    assert response.json()["details"] == {"identifier": 31337}


@pytest.mark.parametrize("term", ["%", "_", "50%"])
async def test_search_treats_like_wildcards_as_plain_characters(client, admin_key, term):
    await create_vendor(client, admin_key, name="Plain Shop", slug="plain-shop")
    percent = await create_vendor(client, admin_key, name="50% Off Store", slug="fifty-off")

    found = (await client.get(VENDORS, params={"search": term}, headers=bearer(admin_key))).json()

    expected = [] if term == "_" else [percent["id"]]
    assert [v["id"] for v in found["items"]] == expected


async def test_a_slug_made_from_a_long_name_is_a_valid_slug(client, admin_key):
    vendor = await create_vendor(client, admin_key, name="a" * 99 + " b c")

    assert vendor["slug"] == "a" * 90  # room left for a `-N` suffix within 100 characters
    assert re.fullmatch(SLUG_PATTERN, vendor["slug"])


async def test_a_vendor_without_a_slug_always_gets_a_free_readable_one(client, admin_key):
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
