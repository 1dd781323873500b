"""The `passesUpdatedSince` tag is commit-ordered on PostgreSQL (WALLET.md, "Rules"): a change committed
late, by a transaction that began before one the device has already seen, still reaches the device.

A wall clock or a sequence number fails this: the late transaction drew the lower number, the device
already holds a tag above it, and the change is never listed."""

from __future__ import annotations

import asyncio
import io
import zipfile
from datetime import timedelta

import httpx
import pytest

from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.services import cards
from loyalty.services.context import Actor, Context
from tests.api.apple_device import Device
from tests.tenants import Tenant

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


@pytest.fixture
def database_url(pg_database_url: str) -> str:
    return pg_database_url


@pytest.fixture
def settings(apple_settings: Settings) -> Settings:
    return apple_settings


async def second_card(client: httpx.AsyncClient, tenant: Tenant) -> Tenant:
    enrolled = await client.post(
        "/api/v1/vendor/loyalty/cards", json={"email": "second@example.com", "name": "Second"}, headers=tenant.headers
    )
    assert enrolled.status_code == 201, enrolled.text
    card = enrolled.json()
    return Tenant(
        vendor_id=tenant.vendor_id,
        slug=tenant.slug,
        key=tenant.key,
        program_id=tenant.program_id,
        pin=tenant.pin,
        pin_id=tenant.pin_id,
        card_id=card["id"],
        card_number=card["card_number"],
        qr_code=card["qr_code"],
        card_token=card["card_token"],
    )


async def test_a_change_committed_late_with_an_earlier_transaction_id_still_reaches_the_device(
    client: httpx.AsyncClient, tenant: Tenant, database: Database, settings: Settings, clock: FixedClock
) -> None:
    late, early = tenant, await second_card(client, tenant)
    device = Device(client)
    late_pass, early_pass = await device.add(late), await device.add(early)
    await device.register(late_pass)
    await device.register(early_pass)
    assert (await device.changed(with_tag=False)).status_code == 200
    clock.advance(timedelta(minutes=1))

    changed, release = asyncio.Event(), asyncio.Event()

    async def slow_transaction() -> None:  # begins first, so it holds the lower transaction id
        async with database.unit_of_work() as session:
            ctx = Context(session, settings, clock, Actor(vendor_id=late.vendor_id))
            await cards.set_card_active(ctx, late.card_id, False)
            changed.set()
            await release.wait()

    slow = asyncio.create_task(slow_transaction())  # its own task: a request's unit is not nested in it
    await changed.wait()
    deactivated = await client.post(f"/api/v1/vendor/loyalty/cards/{early.card_id}/deactivate", headers=early.headers)
    assert deactivated.status_code == 200, deactivated.text  # a later transaction, committed at once
    seen = await device.changed()
    assert seen.status_code == 200
    assert seen.json()["serialNumbers"] == [early_pass["serialNumber"]]
    release.set()
    await slow  # the first transaction commits now, after the device got a tag past the second one

    after = await device.changed()

    assert after.status_code == 200
    assert late_pass["serialNumber"] in after.json()["serialNumbers"]
    fetched = await device.fetch(late_pass)
    assert fetched.status_code == 200
    assert b'"voided": true' in _pass_json(fetched.content)


def _pass_json(pkpass: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(pkpass)) as archive:
        return archive.read("pass.json")
