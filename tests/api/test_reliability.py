"""Reliability through HTTP on PostgreSQL, with production's pool (8 connections, no overflow) or a
pool of one: no request waits for a second connection; a full pool, an unreachable database or a lost
connection is a 503 SERVICE_UNAVAILABLE with Retry-After, never a 500; the service recovers by itself."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import httpx
import pytest
from sqlalchemy import func, select

from loyalty.app import create_app
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.models import Base, LoyaltyCard, LoyaltyTransaction
from tests.api.helpers import assert_error
from tests.databases import asyncpg_dsn
from tests.fixtures import empty_tables, test_settings
from tests.tenants import Tenant, make_tenant

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

V = "/api/v1/vendor/loyalty"
PUBLIC = "/api/v1/loyalty"
# Every answer of these tests comes within the bounded wait; a hang fails the test instead of stalling it.
NO_HANG_SECONDS = 30


@asynccontextmanager
async def serving(settings: Settings, clock: FixedClock) -> AsyncIterator[tuple[httpx.AsyncClient, Database]]:
    """The app on its own Database built from `settings` (its pool), and a client for it."""
    database = Database.from_settings(settings)
    app = create_app(settings, clock=clock, database=database)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=NO_HANG_SECONDS) as client:
            yield client, database
    finally:
        await database.dispose()


@pytest.fixture
async def counter(pg_database_url: str, clock: FixedClock) -> Tenant:
    """A stamps programme with no cooldown and no PIN, on an emptied database."""
    seeding = Database.from_settings(test_settings(pg_database_url))
    try:
        await empty_tables(seeding)
        return await make_tenant(
            seeding,
            test_settings(pg_database_url),
            clock,
            slug="busy-stall",
            cooldown_minutes=0,
            max_daily_stamps=1000,
            require_staff_pin=False,
        )
    finally:
        await seeding.dispose()


async def _count(database: Database, model: type[Base]) -> int:
    async with database.unit_of_work() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def _stamp(client: httpx.AsyncClient, tenant: Tenant) -> httpx.Response:
    return await client.post(f"{V}/stamp", json={"card_id": tenant.card_id}, headers=tenant.headers)


async def test_sixty_concurrent_enrolments_on_the_default_pool_all_succeed(
    pg_database_url: str, clock: FixedClock, counter: Tenant
) -> None:
    """The issue's burst: each enrolment used to hold a connection while asking for a second one."""
    settings = test_settings(pg_database_url, enroll_rate_limit=100_000)
    assert (settings.db_pool_size, settings.db_max_overflow) == (8, 0)  # production's pool
    async with serving(settings, clock) as (client, database):
        answers = await asyncio.gather(
            *(
                client.post(f"{PUBLIC}/programs/{counter.slug}/enroll", json={"email": f"guest{i}@example.com"})
                for i in range(60)
            )
        )
        assert Counter(a.status_code for a in answers) == {201: 60}
        assert await _count(database, LoyaltyCard) == 61  # the tenant's own card and the sixty


async def test_enrolments_over_the_limit_and_wrong_pins_need_one_connection_only(
    pg_database_url: str, clock: FixedClock, counter: Tenant
) -> None:
    """With a pool of one, the attempt counted apart and the failed PIN counted after the rollback run
    on the request's own connection: a second checkout would wait out the bounded wait and answer 503."""
    settings = test_settings(pg_database_url, db_pool_size=1, db_pool_timeout_seconds=2, enroll_rate_limit=3)
    async with serving(settings, clock) as (client, _):
        enrolments = await asyncio.gather(
            *(
                client.post(f"{PUBLIC}/programs/{counter.slug}/enroll", json={"email": f"g{i}@example.com"})
                for i in range(5)
            )
        )
        wrong_pins = await asyncio.gather(
            *(
                client.post(
                    f"{V}/stamp", json={"card_id": counter.card_id, "staff_pin": "0000"}, headers=counter.headers
                )
                for _ in range(3)
            )
        )
    assert Counter(a.status_code for a in enrolments) == {201: 3, 429: 2}
    remaining = sorted(assert_error(a, 403, "INVALID_STAFF_PIN")["remaining_attempts"] for a in wrong_pins)
    assert remaining == [2, 3, 4]  # each failure counted, one after the other, on the one connection


async def test_a_full_pool_answers_503_with_retry_after_then_serves_again(
    pg_database_url: str, clock: FixedClock, counter: Tenant
) -> None:
    settings = test_settings(pg_database_url, db_pool_size=1, db_pool_timeout_seconds=0.5)
    async with serving(settings, clock) as (client, database):
        async with database.engine.connect():  # something else holds the only connection
            refused = await _stamp(client, counter)
            health = await client.get(f"{PUBLIC}/health")
        served = await _stamp(client, counter)

    assert_error(refused, 503, "SERVICE_UNAVAILABLE")
    assert refused.headers["Retry-After"] == "1"
    assert health.status_code == 503 and health.headers["Retry-After"] == "1"
    assert health.json()["database"] == "unavailable" and health.json()["error_code"] == "SERVICE_UNAVAILABLE"
    assert served.status_code == 201 and served.json()["stamp_count"] == 1  # the refused stamp left no trace


async def test_an_unreachable_database_answers_503_and_health_says_so(clock: FixedClock) -> None:
    settings = test_settings("postgresql://postgres@127.0.0.1:1/nowhere")
    async with serving(settings, clock) as (client, _):
        health = await client.get(f"{PUBLIC}/health")
        stamp = await client.post(f"{V}/stamp", json={"card_id": 1}, headers={"Authorization": "Bearer lyk_live_x"})
        enrol = await client.post(f"{PUBLIC}/programs/any/enroll", json={"email": "a@example.com"})

    assert health.status_code == 503 and health.json()["database"] == "unavailable"
    assert health.headers["Retry-After"] == "5"
    for answer in (stamp, enrol):
        assert_error(answer, 503, "SERVICE_UNAVAILABLE")
        assert answer.headers["Retry-After"] == "5"


async def _terminate_backends(database_url: str) -> int:
    """pg_terminate_backend on every other session of the database, as a restart or failover would."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        pids = await connection.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return len(pids)
    finally:
        await connection.close()


async def test_the_service_recovers_by_itself_when_its_connections_are_terminated(
    pg_database_url: str, clock: FixedClock, counter: Tenant
) -> None:
    settings = test_settings(pg_database_url)
    async with serving(settings, clock) as (client, database):
        warm_up = await asyncio.gather(*(_stamp(client, counter) for _ in range(8)))  # fills the pool
        assert {a.status_code for a in warm_up} == {201}
        assert await _terminate_backends(pg_database_url) >= 1
        await asyncio.sleep(0.2)  # the closed sockets reach the pooled connections
        after = [await _stamp(client, counter) for _ in range(12)]
        stamps = await _count(database, LoyaltyTransaction)

    statuses = [a.status_code for a in after]
    assert set(statuses) <= {201, 503}, statuses
    assert statuses[-4:] == [201] * 4, statuses  # back without a restart
    assert stamps == 8 + statuses.count(201)  # every 201 is in the ledger, no 503 left a row


async def test_a_connection_lost_in_the_middle_of_a_request_is_a_503_that_wrote_nothing(
    pg_database_url: str, clock: FixedClock, counter: Tenant
) -> None:
    """The backend is terminated while the request's transaction is open (during the PIN's bcrypt)."""
    slow = test_settings(pg_database_url, bcrypt_rounds=13)  # ~0.5 s a check: the request is in flight
    seeding = Database.from_settings(slow)
    try:
        staff = await make_tenant(seeding, slow, clock, slug="slow-pin", pin="4321", email="slow@example.com")
    finally:
        await seeding.dispose()
    async with serving(slow, clock) as (client, _):
        in_flight = asyncio.create_task(
            client.post(f"{V}/stamp", json={"card_id": staff.card_id, "staff_pin": "4321"}, headers=staff.headers)
        )
        await asyncio.sleep(0.15)
        await _terminate_backends(pg_database_url)
        answer = await in_flight
        assert_error(answer, 503, "SERVICE_UNAVAILABLE")
        again = await client.post(
            f"{V}/stamp", json={"card_id": staff.card_id, "staff_pin": "4321"}, headers=staff.headers
        )
        assert again.status_code == 201 and again.json()["stamp_count"] == 1
