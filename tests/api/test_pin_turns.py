"""A burst of PIN stamps waits for its turns at the worker's PIN checks, not in the connection pool
(api/unit_of_work.py): none of them is refused for a busy pool, and a stamp without PIN is served meanwhile.
On PostgreSQL, with a pool of two connections and PINs hashed at bcrypt's production cost, so the burst's
checks take several times the pool's bounded wait."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from loyalty.app import create_app
from loyalty.clock import FixedClock
from loyalty.db import Database
from tests.fixtures import test_settings
from tests.tenants import Tenant, make_tenant

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

V = "/api/v1/vendor/loyalty"
BURST = 8


async def test_a_burst_of_pin_stamps_waits_for_its_turns_not_for_the_pool(
    pg_database_url: str, pg_database: Database, clock: FixedClock
) -> None:
    settings = test_settings(
        pg_database_url, bcrypt_rounds=12, db_pool_size=2, db_pool_timeout_seconds=0.5, pin_checks_at_once=1
    )
    counters = [await make_tenant(pg_database, settings, clock, slug=f"busy-counter-{n}") for n in range(BURST)]
    quiet = await make_tenant(pg_database, settings, clock, slug="quiet-shop", require_staff_pin=False)
    database = Database.from_settings(settings)
    transport = httpx.ASGITransport(
        app=create_app(settings, clock=clock, database=database), raise_app_exceptions=False
    )
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60) as client:

            async def stamp(tenant: Tenant, pin: str | None) -> httpx.Response:
                body = {"card_id": tenant.card_id, **({"staff_pin": pin} if pin else {})}
                return await client.post(f"{V}/stamp", json=body, headers=tenant.headers)

            burst = [asyncio.create_task(stamp(tenant, tenant.pin)) for tenant in counters]
            await asyncio.sleep(0.05)  # the burst has arrived
            served_meanwhile = await stamp(quiet, None)
            answers = await asyncio.gather(*burst)
    finally:
        await database.dispose()

    assert served_meanwhile.status_code == 201, served_meanwhile.text
    assert [answer.status_code for answer in answers] == [201] * BURST, [answer.text for answer in answers]
