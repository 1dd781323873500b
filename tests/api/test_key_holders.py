"""A worker keeps the callers it identified by API key, and forgets them all when PostgreSQL notifies a change
to a key, a vendor or a programme (api/key_holders.py, migration 0016): a known key costs no query, and a
revoked key, a switched-off vendor or a changed programme takes effect as soon as the notification arrives.
On PostgreSQL, with the app's own listening task running as `loyalty serve` runs it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from loyalty.api.key_holders import APPLICATION_NAME, KeyHolders
from loyalty.app import create_app
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.db import Database
from tests.api.helpers import assert_error, bearer, count_round_trips
from tests.databases import asyncpg_dsn
from tests.tenants import Tenant, make_tenant

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

V = "/api/v1/vendor/loyalty"
ADMIN = "/api/v1/admin/loyalty"
WITHIN_SECONDS = 5  # a bound for the notification's arrival (it takes well under a millisecond), not a speed test


@pytest.fixture
async def app(pg_settings: Settings, clock: FixedClock, pg_database: Database) -> AsyncIterator[FastAPI]:
    """The app with its key cache listening, as its lifespan starts it under `loyalty serve` (the suite's
    `client` fixture speaks to this one)."""
    app = create_app(pg_settings, clock=clock, database=pg_database)
    listening = asyncio.create_task(app.state.key_holders.listen())
    await until(lambda: app.state.key_holders.listening)
    yield app
    listening.cancel()
    await asyncio.gather(listening, return_exceptions=True)


@pytest.fixture
async def counter(pg_database: Database, pg_settings: Settings, clock: FixedClock) -> Tenant:
    return await make_tenant(pg_database, pg_settings, clock, slug="cached-cafe", require_staff_pin=False)


async def until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WITHIN_SECONDS
    while not condition():
        assert time.monotonic() < deadline, "not within the bound"
        await asyncio.sleep(0.005)


async def notified(key_holders: KeyHolders, change: Callable[[], Awaitable[Any]]) -> None:
    """Runs `change` and waits for the worker to forget what it kept."""
    generation = key_holders.generation
    await change()
    await until(lambda: key_holders.generation != generation)


async def stamp(client: httpx.AsyncClient, tenant: Tenant, key: str | None = None) -> httpx.Response:
    headers = bearer(key or tenant.key)
    return await client.post(f"{V}/stamp", json={"card_id": tenant.card_id}, headers=headers)


async def test_a_known_key_costs_no_query_and_a_stamp_is_one_round_trip(
    client: httpx.AsyncClient, counter: Tenant, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert (await stamp(client, counter)).status_code == 201  # looks the key up, and keeps its holder
    clock.advance(timedelta(hours=1))
    sent = count_round_trips(monkeypatch)

    response = await stamp(client, counter)

    assert response.status_code == 201, response.text
    assert response.json()["stamp_count"] == 2
    assert sent == ["WITH"]  # the stamp's one statement, sent alone: no key look-up, no BEGIN, no COMMIT


async def test_this_workers_own_changes_take_effect_before_their_answer_is_sent(
    client: httpx.AsyncClient, counter: Tenant
) -> None:
    """Found in review: the worker that made a change kept its old caller until its own NOTIFY arrived, so the
    next request could still pass with a revoked key or a switched-off programme. No waiting here."""
    assert (await stamp(client, counter)).status_code == 201  # kept
    assert (await client.post(f"{V}/program/deactivate", headers=counter.headers)).status_code == 200
    assert_error(await stamp(client, counter), 400, "LOYALTY_PROGRAM_INACTIVE")
    assert (await client.post(f"{V}/program/activate", headers=counter.headers)).status_code == 200

    rotated = await client.post(f"{V}/api-keys/rotate", headers=counter.headers)

    assert rotated.status_code == 201, rotated.text
    assert_error(await stamp(client, counter), 401, "UNAUTHENTICATED")
    assert (await stamp(client, counter, rotated.json()["key"])).status_code in (201, 429)


async def test_a_database_url_with_sqlalchemy_only_options_still_listens(
    pg_database_url: str, pg_database: Database
) -> None:
    """Found in review: `?prepared_statement_cache_size=0` (a pooler's usual setting) is read by SQLAlchemy's
    dialect alone; passed on to asyncpg.connect it failed the listener for good, silently."""
    url = pg_database_url + ("&" if "?" in pg_database_url else "?") + "prepared_statement_cache_size=0"
    database = Database.from_url(url)
    key_holders = KeyHolders(database.listen_args(), 60)
    listening = asyncio.create_task(key_holders.listen())
    try:
        await until(lambda: key_holders.listening)
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)
        await database.dispose()


async def test_a_change_by_another_process_is_seen_once_notified(
    app: FastAPI, client: httpx.AsyncClient, counter: Tenant, pg_database_url: str
) -> None:
    """Another worker, or psql, changes the programme and then switches the vendor off: each change reaches
    this worker through PostgreSQL, not through its own requests."""
    assert (await stamp(client, counter)).status_code == 201  # kept: cooldown 15 minutes
    assert_error(await stamp(client, counter), 429, "STAMP_COOLDOWN")
    other = await asyncpg.connect(asyncpg_dsn(pg_database_url))
    try:
        await notified(
            app.state.key_holders,
            lambda: other.execute("UPDATE loyalty_programs SET cooldown_minutes = 0 WHERE id = $1", counter.program_id),
        )
        assert (await stamp(client, counter)).status_code == 201  # the new cooldown, not the kept one

        await notified(
            app.state.key_holders,
            lambda: other.execute("UPDATE vendors SET is_active = false WHERE id = $1", counter.vendor_id),
        )
        assert_error(await stamp(client, counter), 403, "FORBIDDEN")
    finally:
        await other.close()


async def test_without_its_listening_connection_the_worker_looks_every_key_up(
    app: FastAPI, client: httpx.AsyncClient, counter: Tenant, pg_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lost connection would miss notifications: until it listens again, nothing is kept."""
    key_holders: KeyHolders = app.state.key_holders
    assert (await stamp(client, counter)).status_code == 201
    admin = await asyncpg.connect(asyncpg_dsn(pg_database_url))
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 "
            "AND datname = current_database()",
            APPLICATION_NAME,
        )
        await until(lambda: not key_holders.listening)
        sent = count_round_trips(monkeypatch)
        assert_error(await stamp(client, counter), 429, "STAMP_COOLDOWN")
        assert sent[0] == "SELECT"  # the key, looked up
        await admin.execute("UPDATE api_keys SET revoked_at = now() WHERE key_prefix = $1", counter.key[:14])
        assert_error(await stamp(client, counter), 401, "UNAUTHENTICATED")  # no notification needed
    finally:
        await admin.close()
    await until(lambda: key_holders.listening)  # back (RECONNECT_SECONDS), with nothing kept from before
