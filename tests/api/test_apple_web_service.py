"""Apple's PassKit web service as a device uses it, over HTTP, on PostgreSQL and SQLite (WALLET.md,
"Routes", "Rules" and "Tests"): register, list changed passes with and without the tag, fetch with
If-Modified-Since, HEAD, unregister, and the same 401 for every wrong credential."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta
from email.utils import format_datetime, parsedate_to_datetime

import httpx
import pytest

from loyalty.clock import FixedClock
from loyalty.config import Settings
from tests.api.apple_device import BASE, DEVICE, PASS_TYPE, Device, auth
from tests.api.helpers import assert_error
from tests.tenants import Tenant

pytestmark = pytest.mark.anyio


@pytest.fixture
def settings(apple_settings: Settings) -> Settings:
    return apple_settings


async def stamp(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post(
        "/api/v1/vendor/loyalty/stamp", json={"card_id": tenant.card_id, "staff_pin": "1234"}, headers=tenant.headers
    )
    assert response.status_code == 201, response.text


async def test_the_device_flow(client: httpx.AsyncClient, tenant: Tenant, clock: FixedClock) -> None:
    device = Device(client)
    document = await device.add(tenant)
    serial = document["serialNumber"]

    first = await device.register(document)
    again = await device.register(document)
    assert (first.status_code, first.json()) == (201, {})
    assert (again.status_code, again.json()) == (200, {})

    listed = await device.changed(with_tag=False)
    assert listed.status_code == 200
    assert listed.json()["serialNumbers"] == [serial]
    assert isinstance(listed.json()["lastUpdated"], str)  # an integer makes devices skip the update

    assert (await device.changed()).status_code == 204  # nothing changed since the tag

    clock.advance(timedelta(minutes=20))
    await stamp(client, tenant)
    after_stamp = await device.changed()
    assert after_stamp.status_code == 200
    assert after_stamp.json()["serialNumbers"] == [serial]

    fetched = await device.fetch(document)
    assert fetched.status_code == 200
    assert fetched.headers["content-type"] == "application/vnd.apple.pkpass"
    modified = fetched.headers["last-modified"]
    with zipfile.ZipFile(io.BytesIO(fetched.content)) as archive:
        assert '"1/3"' in archive.read("pass.json").decode()

    not_modified = await device.fetch(document, **{"If-Modified-Since": modified})
    assert not_modified.status_code == 304
    assert not_modified.content == b""

    head = await client.head(f"{BASE}/passes/{PASS_TYPE}/{serial}", headers=auth(document))
    assert head.status_code == 200 and head.content == b""
    assert head.headers["last-modified"] == modified

    gone = await client.delete(device.registration(serial), headers=auth(document))
    gone_again = await client.delete(device.registration(serial), headers=auth(document))
    assert (gone.status_code, gone.json()) == (200, {})
    assert gone_again.status_code == 200
    assert (await device.changed(with_tag=False)).status_code == 204


async def test_a_changed_push_token_replaces_the_old_one(client: httpx.AsyncClient, tenant: Tenant) -> None:
    device = Device(client)
    document = await device.add(tenant)
    await device.register(document, push_token="old")

    again = await device.register(document, push_token="new")

    assert again.status_code == 200
    registrations = await client.get(f"/api/v1/vendor/loyalty/cards/{tenant.card_id}/wallet", headers=tenant.headers)
    assert registrations.json()["apple"]["registered_devices"] == 1


async def test_two_changes_within_one_second_both_reach_the_device(
    client: httpx.AsyncClient, tenant: Tenant, clock: FixedClock
) -> None:
    device = Device(client)
    document = await device.add(tenant)
    await device.register(document)
    await device.changed(with_tag=False)
    patched = await client.patch("/api/v1/vendor/loyalty/program", json={"cooldown_minutes": 0}, headers=tenant.headers)
    assert patched.status_code == 200

    await stamp(client, tenant)
    first = await device.fetch(document)
    await stamp(client, tenant)  # the clock has not moved: the same second
    listed = await device.changed()
    second = await device.fetch(document, **{"If-Modified-Since": first.headers["last-modified"]})

    assert listed.status_code == 200 and listed.json()["serialNumbers"] == [document["serialNumber"]]
    assert second.status_code == 200
    assert parsedate_to_datetime(second.headers["last-modified"]) > parsedate_to_datetime(
        first.headers["last-modified"]
    )


async def test_every_change_to_a_card_moves_its_pass(
    client: httpx.AsyncClient, tenant: Tenant, clock: FixedClock
) -> None:
    device = Device(client)
    document = await device.add(tenant)
    await device.register(document)
    await device.changed(with_tag=False)
    vendor = "/api/v1/vendor/loyalty"
    changes = {
        "earn": (
            "POST",
            f"{vendor}/points/earn",
            {"card_id": tenant.card_id, "purchase_amount_cents": 1000, "staff_pin": "1234"},
        ),
        "deactivate": ("POST", f"{vendor}/cards/{tenant.card_id}/deactivate", None),
        "reactivate": ("POST", f"{vendor}/cards/{tenant.card_id}/reactivate", None),
        "programme": ("PATCH", f"{vendor}/program", {"stamps_reward_description": "A croissant"}),
    }
    for name, (method, path, body) in changes.items():
        clock.advance(timedelta(minutes=1))
        answer = await client.request(method, path, json=body, headers=tenant.headers)
        assert answer.status_code in (200, 201), f"{name}: {answer.text}"

        listed = await device.changed()

        assert listed.status_code == 200, name
        assert listed.json()["serialNumbers"] == [document["serialNumber"]], name


async def test_a_programme_change_that_the_pass_does_not_show_moves_no_pass(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    device = Device(client)
    await device.register(await device.add(tenant))
    await device.changed(with_tag=False)

    patched = await client.patch("/api/v1/vendor/loyalty/program", json={"cooldown_minutes": 5}, headers=tenant.headers)

    assert patched.status_code == 200
    assert (await device.changed()).status_code == 204


async def test_a_device_sees_only_the_passes_it_registered(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    mine, theirs = Device(client, "device-one"), Device(client, "device-two")
    await mine.register(await mine.add(tenant))
    other_document = await theirs.add(other_tenant)
    await theirs.register(other_document)

    listed = await mine.changed(with_tag=False)

    assert other_document["serialNumber"] not in listed.json()["serialNumbers"]
    assert (await Device(client, "never-registered").changed(with_tag=False)).status_code == 204


async def test_wrong_token_unknown_serial_and_unknown_pass_type_get_the_same_401(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    device = Device(client)
    document = await device.add(tenant)
    serial = document["serialNumber"]
    wrong = {"Authorization": "ApplePass " + "x" * 43}
    attempts = [
        client.post(device.registration(serial), json={"pushToken": "t"}, headers=wrong),
        client.post(device.registration("0" * 32), json={"pushToken": "t"}, headers=auth(document)),
        client.post(
            f"{BASE}/devices/{DEVICE}/registrations/pass.other.type/{serial}",
            json={"pushToken": "t"},
            headers=auth(document),
        ),
        client.post(device.registration(serial), json={"pushToken": "t"}),
        client.post(
            device.registration(serial),
            json={"pushToken": "t"},
            headers={"Authorization": f"Bearer {document['authenticationToken']}"},
        ),
        client.get(f"{BASE}/passes/{PASS_TYPE}/{serial}", headers=wrong),
        client.get(f"{BASE}/passes/{PASS_TYPE}/{'0' * 32}", headers=auth(document)),
        client.get(f"{BASE}/passes/pass.other.type/{serial}", headers=auth(document)),
        client.delete(device.registration(serial), headers=wrong),
    ]
    answers = [await attempt for attempt in attempts]

    for answer in answers:
        assert_error(answer, 401, "UNAUTHENTICATED")
    assert len({answer.text for answer in answers}) == 1  # no oracle for serials or pass types


async def test_a_registration_without_a_push_token_is_a_400(client: httpx.AsyncClient, tenant: Tenant) -> None:
    device = Device(client)
    document = await device.add(tenant)

    for body in (b"", b"{}", b'{"pushToken": 7}', b"not json", b'{"pushToken": ""}'):
        answer = await client.post(
            device.registration(document["serialNumber"]),
            content=body,
            headers={**auth(document), "Content-Type": "application/json"},
        )
        assert_error(answer, 400, "PUSH_TOKEN_MISSING")


async def test_malformed_identifiers_get_the_envelope(client: httpx.AsyncClient, tenant: Tenant) -> None:
    device = Device(client)
    document = await device.add(tenant)

    too_long = await client.post(
        f"{BASE}/devices/{'d' * 201}/registrations/{PASS_TYPE}/{document['serialNumber']}",
        json={"pushToken": "t"},
        headers=auth(document),
    )
    spaces = await client.get(f"{BASE}/devices/a%20b/registrations/{PASS_TYPE}")

    assert_error(too_long, 422, "VALIDATION_ERROR")
    assert_error(spaces, 422, "VALIDATION_ERROR")


async def test_an_unparsable_tag_or_date_is_ignored(client: httpx.AsyncClient, tenant: Tenant) -> None:
    device = Device(client)
    document = await device.add(tenant)
    await device.register(document)

    listed = await client.get(
        f"{BASE}/devices/{DEVICE}/registrations/{PASS_TYPE}", params={"passesUpdatedSince": "yesterday"}
    )
    fetched = await device.fetch(document, **{"If-Modified-Since": "not a date"})

    assert listed.status_code == 200 and listed.json()["serialNumbers"] == [document["serialNumber"]]
    assert fetched.status_code == 200


async def test_if_modified_since_before_the_change_gets_the_pass(
    client: httpx.AsyncClient, tenant: Tenant, clock: FixedClock
) -> None:
    device = Device(client)
    document = await device.add(tenant)
    long_ago = format_datetime(clock.now() - timedelta(days=1), usegmt=True)

    fetched = await device.fetch(document, **{"If-Modified-Since": long_ago})

    assert fetched.status_code == 200


async def test_device_logs_are_accepted_and_bounded(client: httpx.AsyncClient) -> None:
    accepted = await client.post(f"{BASE}/log", json={"logs": ["Pass download failed: bad signature"]})
    too_many = await client.post(f"{BASE}/log", json={"logs": ["x"] * 101})
    too_long = await client.post(f"{BASE}/log", json={"logs": ["x" * 1025]})

    assert (accepted.status_code, accepted.json()) == (200, {})
    assert_error(too_many, 413, "DEVICE_LOG_TOO_LARGE")
    assert_error(too_long, 413, "DEVICE_LOG_TOO_LARGE")


async def test_device_logs_are_rate_limited_per_address(client: httpx.AsyncClient) -> None:
    answers = [await client.post(f"{BASE}/log", json={"logs": ["again"]}) for _ in range(31)]

    assert [answer.status_code for answer in answers[:30]] == [200] * 30
    assert_error(answers[30], 429, "RATE_LIMITED")


async def test_the_vendor_sees_a_cards_registrations_and_pass_version(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    device = Device(client)
    await device.register(await device.add(tenant))

    wallet = await client.get(f"/api/v1/vendor/loyalty/cards/{tenant.card_id}/wallet", headers=tenant.headers)
    foreign = await client.get(f"/api/v1/vendor/loyalty/cards/{tenant.card_id}/wallet", headers=other_tenant.headers)

    assert wallet.status_code == 200, wallet.text
    body = wallet.json()
    assert body["apple"]["registered_devices"] == 1
    assert body["apple"]["last_push_at"] is None
    assert isinstance(body["pass_version"], str)
    assert_error(foreign, 404, "LOYALTY_CARD_NOT_FOUND")
