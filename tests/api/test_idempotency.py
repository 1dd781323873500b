"""Idempotency-Key on the counter writes: a repeat replays the first answer byte for byte, with no
second effect; another body under the same key is 409; keys belong to one vendor."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.models import IdempotencyRecord, LoyaltyCard, LoyaltyTransaction
from tests.tenants import Tenant, make_tenant

pytestmark = pytest.mark.anyio

V = "/api/v1/vendor/loyalty"


def keyed(tenant: Tenant, key: str, **extra: str) -> dict[str, str]:
    return {**tenant.headers, "Idempotency-Key": key, **extra}


async def ledger_count(database: Database, vendor_id: int | None = None) -> int:
    async with database.unit_of_work() as session:
        query = select(func.count()).select_from(LoyaltyTransaction)
        if vendor_id is not None:
            query = query.where(LoyaltyTransaction.vendor_id == vendor_id)
        return await session.scalar(query) or 0


async def plain_post(client: httpx.AsyncClient, tenant: Tenant, path: str, **body: Any) -> httpx.Response:
    payload = {"card_id": tenant.card_id, "staff_pin": tenant.pin, **body}
    response = await client.post(f"{V}{path}", json=payload, headers=tenant.headers)
    assert response.status_code == 201, response.text
    return response


Setup = Callable[[httpx.AsyncClient, Tenant, Any], Awaitable[tuple[str, dict[str, Any]]]]


async def for_stamp(client: httpx.AsyncClient, tenant: Tenant, clock: FixedClock) -> tuple[str, dict[str, Any]]:
    return "/stamp", {"card_id": tenant.card_id, "staff_pin": tenant.pin}


async def for_stamp_redeem(client: httpx.AsyncClient, tenant: Tenant, clock: FixedClock) -> tuple[str, dict[str, Any]]:
    for _ in range(3):
        await plain_post(client, tenant, "/stamp")
        clock.advance(timedelta(minutes=15))
    return "/stamp/redeem", {"card_id": tenant.card_id, "staff_pin": tenant.pin}


async def for_points_earn(client: httpx.AsyncClient, tenant: Tenant, clock: FixedClock) -> tuple[str, dict[str, Any]]:
    return "/points/earn", {"qr_code": tenant.qr_code, "staff_pin": tenant.pin, "purchase_amount_cents": 1500}


async def for_points_redeem(client: httpx.AsyncClient, tenant: Tenant, clock: FixedClock) -> tuple[str, dict[str, Any]]:
    await plain_post(client, tenant, "/points/earn", purchase_amount_cents=5000)
    return "/points/redeem", {"card_id": tenant.card_id, "staff_pin": tenant.pin, "reward_id": 1}


async def for_void(client: httpx.AsyncClient, tenant: Tenant, clock: FixedClock) -> tuple[str, dict[str, Any]]:
    stamped = (await plain_post(client, tenant, "/stamp")).json()["transaction_id"]
    return f"/transactions/{stamped}/void", {"reason": "mistake", "staff_pin": tenant.pin}


SETUPS = [for_stamp, for_stamp_redeem, for_points_earn, for_points_redeem, for_void]


@pytest.fixture
async def shop(database: Database, settings: Settings, clock: FixedClock) -> Tenant:
    return await make_tenant(
        database, settings, clock, slug="keyed-shop", points_rewards=[{"id": 1, "name": "Tart", "points_required": 20}]
    )


@pytest.mark.parametrize("setup", SETUPS, ids=lambda s: s.__name__)
async def test_repeat_replays_the_first_answer_without_a_second_effect(
    client: httpx.AsyncClient, shop: Tenant, clock: FixedClock, database: Database, setup: Setup
) -> None:
    path, body = await setup(client, shop, clock)
    before = await ledger_count(database)

    first = await client.post(f"{V}{path}", json=body, headers=keyed(shop, "k-1"))
    clock.advance(timedelta(minutes=20))  # a second stamp would now pass the cooldown
    again = await client.post(f"{V}{path}", json=body, headers=keyed(shop, "k-1"))

    assert first.status_code == 201, first.text
    assert again.status_code == first.status_code
    assert again.content == first.content
    assert again.headers["content-type"] == first.headers["content-type"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert await ledger_count(database) == before + 1


@pytest.mark.parametrize("setup", SETUPS, ids=lambda s: s.__name__)
async def test_same_key_other_body_is_409(
    client: httpx.AsyncClient, shop: Tenant, clock: FixedClock, database: Database, setup: Setup
) -> None:
    path, body = await setup(client, shop, clock)
    assert (await client.post(f"{V}{path}", json=body, headers=keyed(shop, "k-2"))).status_code == 201
    before = await ledger_count(database)

    changed = {**body, "reason" if "reason" in body else "notes": "changed"}  # a void's text is its reason
    response = await client.post(f"{V}{path}", json=changed, headers=keyed(shop, "k-2"))

    assert response.status_code == 409, response.text
    assert response.json()["error_code"] == "IDEMPOTENCY_KEY_REUSED"
    assert await ledger_count(database) == before


async def test_same_key_on_another_operation_is_409(client: httpx.AsyncClient, shop: Tenant) -> None:
    stamped = await client.post(
        f"{V}/stamp", json={"card_id": shop.card_id, "staff_pin": shop.pin}, headers=keyed(shop, "k")
    )
    assert stamped.status_code == 201
    body = {"card_id": shop.card_id, "staff_pin": shop.pin, "purchase_amount_cents": 100}

    response = await client.post(f"{V}/points/earn", json=body, headers=keyed(shop, "k"))

    assert response.status_code == 409
    assert response.json()["error_code"] == "IDEMPOTENCY_KEY_REUSED"


async def test_same_json_written_differently_is_the_same_request(
    client: httpx.AsyncClient, shop: Tenant, database: Database
) -> None:
    compact = json.dumps({"card_id": shop.card_id, "staff_pin": shop.pin}, separators=(",", ":"))
    spaced = json.dumps({"staff_pin": shop.pin, "card_id": shop.card_id}, indent=2)
    content_type = {"Content-Type": "application/json"}

    first = await client.post(f"{V}/stamp", content=compact, headers=keyed(shop, "k-3", **content_type))
    again = await client.post(f"{V}/stamp", content=spaced, headers=keyed(shop, "k-3", **content_type))

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.content == first.content
    assert await ledger_count(database) == 1


async def test_keys_belong_to_one_vendor(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, database: Database
) -> None:
    mine = await client.post(
        f"{V}/stamp", json={"card_id": tenant.card_id, "staff_pin": tenant.pin}, headers=keyed(tenant, "shared")
    )
    theirs = await client.post(
        f"{V}/stamp",
        json={"card_id": other_tenant.card_id, "staff_pin": other_tenant.pin},
        headers=keyed(other_tenant, "shared"),
    )

    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.json()["card_id"] == tenant.card_id
    assert theirs.json()["card_id"] == other_tenant.card_id
    assert await ledger_count(database, tenant.vendor_id) == 1
    assert await ledger_count(database, other_tenant.vendor_id) == 1


async def test_same_body_from_another_vendor_does_not_replay(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    """Even a byte-identical body under the same key is a new request for another vendor: it is
    checked afresh (the first vendor's PIN and card mean nothing here), never replayed."""
    body = {"card_id": tenant.card_id, "staff_pin": tenant.pin}
    assert (await client.post(f"{V}/stamp", json=body, headers=keyed(tenant, "same"))).status_code == 201

    response = await client.post(f"{V}/stamp", json=body, headers=keyed(other_tenant, "same"))

    assert "Idempotent-Replayed" not in response.headers
    assert response.status_code == 403
    assert response.json()["error_code"] == "INVALID_STAFF_PIN"


async def test_a_failed_write_is_not_remembered(
    client: httpx.AsyncClient, shop: Tenant, clock: FixedClock, database: Database
) -> None:
    body = {"card_id": shop.card_id, "staff_pin": shop.pin}
    assert (await client.post(f"{V}/stamp", json=body, headers=shop.headers)).status_code == 201

    refused = await client.post(f"{V}/stamp", json=body, headers=keyed(shop, "k-4"))
    assert refused.status_code == 429
    clock.advance(timedelta(minutes=15))
    retried = await client.post(f"{V}/stamp", json=body, headers=keyed(shop, "k-4"))

    assert retried.status_code == 201, retried.text
    assert "Idempotent-Replayed" not in retried.headers
    assert await ledger_count(database) == 2


async def test_a_wrong_pin_is_not_remembered(client: httpx.AsyncClient, shop: Tenant) -> None:
    body = {"card_id": shop.card_id, "staff_pin": "0000"}
    first = await client.post(f"{V}/stamp", json=body, headers=keyed(shop, "k-5"))
    again = await client.post(f"{V}/stamp", json=body, headers=keyed(shop, "k-5"))

    assert first.json()["details"]["remaining_attempts"] == 4
    assert again.json()["details"]["remaining_attempts"] == 3  # checked again, counted again


async def test_replay_keeps_the_first_language(client: httpx.AsyncClient, shop: Tenant) -> None:
    body = {"card_id": shop.card_id, "staff_pin": shop.pin}
    first = await client.post(f"{V}/stamp", json=body, headers=keyed(shop, "k-6", **{"Accept-Language": "en"}))
    again = await client.post(f"{V}/stamp", json=body, headers=keyed(shop, "k-6", **{"Accept-Language": "fr"}))

    assert again.content == first.content


async def test_an_expired_key_starts_afresh(
    client: httpx.AsyncClient, shop: Tenant, clock: FixedClock, settings: Settings, database: Database
) -> None:
    body = {"card_id": shop.card_id, "staff_pin": shop.pin}
    first = await client.post(f"{V}/stamp", json=body, headers=keyed(shop, "k-7"))
    clock.advance(timedelta(hours=settings.idempotency_ttl_hours, minutes=1))

    later = await client.post(f"{V}/stamp", json=body, headers=keyed(shop, "k-7"))

    assert later.status_code == 201
    assert later.json()["transaction_id"] != first.json()["transaction_id"]
    assert await ledger_count(database) == 2


@pytest.mark.parametrize("key", ["", "x" * 256])
async def test_key_length_is_validated(client: httpx.AsyncClient, shop: Tenant, key: str, database: Database) -> None:
    body = {"card_id": shop.card_id, "staff_pin": shop.pin}

    response = await client.post(f"{V}/stamp", json=body, headers=keyed(shop, key))

    assert response.status_code == 422
    assert response.json()["error_code"] == "VALIDATION_ERROR"
    assert await ledger_count(database) == 0


async def test_key_of_255_characters_is_accepted(client: httpx.AsyncClient, shop: Tenant) -> None:
    body = {"card_id": shop.card_id, "staff_pin": shop.pin}

    first = await client.post(f"{V}/stamp", json=body, headers=keyed(shop, "k" * 255))
    repeat = await client.post(f"{V}/stamp", json=body, headers=keyed(shop, "k" * 255))

    assert first.status_code == 201, first.text
    assert repeat.json() == first.json()  # the key was kept whole: the repeat replays, not a cooldown refusal


async def test_concurrent_replays_make_one_entry(client: httpx.AsyncClient, shop: Tenant, database: Database) -> None:
    """Ten identical requests at once: one stamp, ten identical answers (runs on both backends;
    on PostgreSQL the repeats wait on the key's unique index until the first commits)."""
    body = {"card_id": shop.card_id, "staff_pin": shop.pin}

    responses = await asyncio.gather(
        *(client.post(f"{V}/stamp", json=body, headers=keyed(shop, "burst")) for _ in range(10))
    )

    assert {response.status_code for response in responses} == {201}, [r.text for r in responses]
    assert len({response.content for response in responses}) == 1
    assert sum(response.headers.get("Idempotent-Replayed") == "true" for response in responses) == 9
    assert await ledger_count(database) == 1
    async with database.unit_of_work() as session:
        card = await session.get(LoyaltyCard, shop.card_id)
    assert card is not None and card.stamp_count == 1


# --- what a record keeps -------------------------------------------------------------------------

LARGE_CATALOGUE = [{"name": f"Reward number {i} of the long catalogue", "points_required": 10 + i} for i in range(200)]


async def _stored_sizes(database: Database) -> list[int]:
    async with database.unit_of_work() as session:
        return list(await session.scalars(select(func.length(IdempotencyRecord.response_body))))


async def test_a_large_answer_is_kept_compressed_and_replayed_byte_for_byte(
    client: httpx.AsyncClient, tenant: Tenant, database: Database
) -> None:
    """The issue: each key on a large programme stored the whole programme (75 KB a record)."""
    patched = await client.patch(f"{V}/program", json={"points_rewards": LARGE_CATALOGUE}, headers=tenant.headers)
    assert patched.status_code == 200

    first = await client.post(f"{V}/program/activate", headers=keyed(tenant, "activate-1"))
    again = await client.post(f"{V}/program/activate", headers=keyed(tenant, "activate-1"))

    assert first.status_code == again.status_code == 200
    assert again.content == first.content and again.headers["Idempotent-Replayed"] == "true"
    [stored] = await _stored_sizes(database)
    assert len(first.content) > 10_000 and stored < len(first.content) / 4


async def test_an_answer_too_large_to_keep_releases_its_key(
    client: httpx.AsyncClient, tenant: Tenant, database: Database, settings: Settings
) -> None:
    settings.idempotency_max_answer_bytes = 1_024  # the app reads this very Settings object
    rewards = [{"name": f"{i:x}" * 50, "points_required": 10 + i} for i in range(50)]  # little to compress
    assert (
        await client.patch(f"{V}/program", json={"points_rewards": rewards}, headers=tenant.headers)
    ).status_code == 200

    first = await client.post(f"{V}/program/activate", headers=keyed(tenant, "activate-2"))
    again = await client.post(f"{V}/program/activate", headers=keyed(tenant, "activate-2"))

    assert first.status_code == again.status_code == 200
    assert "Idempotent-Replayed" not in again.headers  # run again: activating twice is harmless
    assert await _stored_sizes(database) == []
