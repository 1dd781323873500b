"""The client's address, which rate limits count against: behind trusted proxies the one they saw,
never what a client wrote into X-Forwarded-For; and wrong API keys are counted per address."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest

from loyalty.app import create_app
from loyalty.clock import FixedClock
from loyalty.db import Database
from tests.api.helpers import assert_error, bearer
from tests.fixtures import test_settings
from tests.tenants import Tenant

pytestmark = pytest.mark.anyio

V = "/api/v1/vendor/loyalty"
PROXY = ("127.0.0.1", 50123)  # the reverse proxy, trusted by default
CUSTOMER = "203.0.113.7"  # where the requests really come from


@asynccontextmanager
async def client_at(
    address: tuple[str, int], database: Database, clock: FixedClock, **settings: Any
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(test_settings(str(settings.pop("database_url")), **settings), clock=clock, database=database)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=address)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def test_invented_forwarded_addresses_do_not_dodge_the_enrolment_limit(
    database_url: str, database: Database, clock: FixedClock, tenant: Tenant
) -> None:
    """The issue's attack: 15 enrolments, each with a new address of the client's own invention at the
    left of X-Forwarded-For; the proxy appends the address it saw, and that one is counted."""
    async with client_at(
        PROXY, database, clock, database_url=database_url, trust_forwarded_for=True, enroll_rate_limit=10
    ) as client:
        answers = [
            await client.post(
                f"/api/v1/loyalty/programs/{tenant.slug}/enroll",
                json={"email": f"guest{i}@example.com"},
                headers={"X-Forwarded-For": f"10.9.8.{i}, {CUSTOMER}"},
            )
            for i in range(15)
        ]
    assert [a.status_code for a in answers] == [201] * 10 + [429] * 5


async def test_forwarded_addresses_from_a_client_that_is_no_proxy_are_ignored(
    database_url: str, database: Database, clock: FixedClock, tenant: Tenant
) -> None:
    async with client_at(
        (CUSTOMER, 40000), database, clock, database_url=database_url, trust_forwarded_for=True, enroll_rate_limit=2
    ) as client:
        answers = [
            await client.post(
                f"/api/v1/loyalty/programs/{tenant.slug}/enroll",
                json={"email": f"guest{i}@example.com"},
                headers={"X-Forwarded-For": f"198.51.100.{i}"},
            )
            for i in range(3)
        ]
    assert [a.status_code for a in answers] == [201, 201, 429]


async def test_wrong_keys_are_counted_per_address_and_refused_past_the_limit(
    database_url: str, database: Database, clock: FixedClock, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="loyalty.security")
    async with (
        client_at((CUSTOMER, 40000), database, clock, database_url=database_url, auth_failure_limit=3) as guesser,
        client_at(("198.51.100.20", 40000), database, clock, database_url=database_url) as neighbour,
    ):
        guesses = [await guesser.get(f"{V}/program", headers=bearer(f"lyk_live_guess{i:040d}")) for i in range(5)]
        right_key_from_the_guesser = await guesser.get(f"{V}/program", headers=tenant.headers)
        neighbour_answer = await neighbour.get(f"{V}/program", headers=tenant.headers)
        clock.advance(timedelta(seconds=301))
        after_the_window = await guesser.get(f"{V}/program", headers=tenant.headers)

    assert [g.status_code for g in guesses] == [401, 401, 401, 429, 429]
    assert 1 <= int(guesses[-1].headers["Retry-After"]) <= 300
    assert_error(right_key_from_the_guesser, 429, "RATE_LIMITED")  # refused before any key is looked at
    assert neighbour_answer.status_code == 200
    assert after_the_window.status_code == 200
    failures = [r.getMessage() for r in caplog.records if r.name == "loyalty.security"]
    assert failures == [f"authentication failed from {CUSTOMER}"] * 4  # one line each, none for the refused


async def test_a_guesser_behind_a_shared_address_does_not_lock_out_the_terminals_beside_it(
    database_url: str, database: Database, clock: FixedClock, tenant: Tenant
) -> None:
    """A shop's NAT, or a proxy hop missing from LOYALTY_TRUSTED_PROXIES: one address for everyone.
    Found in review: one client's wrong keys used to refuse every key from that address."""
    async with client_at((CUSTOMER, 40000), database, clock, database_url=database_url, auth_failure_limit=3) as shared:
        before = await shared.get(f"{V}/program", headers=tenant.headers)  # the counter at work
        guesses = [await shared.get(f"{V}/program", headers=bearer(f"lyk_live_guess{i:040d}")) for i in range(5)]
        after = await shared.get(f"{V}/program", headers=tenant.headers)

    assert before.status_code == 200
    assert [g.status_code for g in guesses] == [401, 401, 401, 429, 429]
    assert after.status_code == 200  # a key this worker has seen valid is not refused with the guesses
