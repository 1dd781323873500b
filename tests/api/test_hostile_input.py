"""Inputs that once gave a 500: each is now a client error in the envelope, logged as one line, with
nothing written; and a real failure of ours is one 500 with one traceback, the connection kept."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from loyalty.services import programs
from tests.api.helpers import assert_error
from tests.fixtures import SECRET_PATTERNS
from tests.tenants import Tenant

pytestmark = pytest.mark.anyio

V = "/api/v1/vendor/loyalty"


@pytest.fixture
async def strict_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client through which an exception that escapes the app fails the test (a re-raised error
    is what makes the server log a second traceback and drop the keep-alive connection)."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=True)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.exc_info]


async def test_an_id_past_the_largest_id_is_a_422(strict_client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await strict_client.post(
        f"{V}/transactions/9223372036854775808/void",
        json={"reason": "x", "staff_pin": tenant.pin},
        headers=tenant.headers,
    )
    assert_error(response, 422, "VALIDATION_ERROR")


@pytest.mark.parametrize("accept", ["application/json", "text/csv"])
async def test_an_instant_that_utc_cannot_hold_is_a_422(
    strict_client: httpx.AsyncClient, tenant: Tenant, accept: str
) -> None:
    response = await strict_client.get(
        f"{V}/transactions",
        params={"since": "0001-01-01T00:00:00+14:00"},
        headers={**tenant.headers, "Accept": accept},
    )
    details = assert_error(response, 422, "VALIDATION_ERROR")
    assert details["errors"][0]["field"] == "since"


async def test_deeply_nested_json_with_an_idempotency_key_is_a_client_error(
    strict_client: httpx.AsyncClient, tenant: Tenant
) -> None:
    depth = 960
    body = '{"card_id": ' + "[" * depth + "]" * depth + "}"
    response = await strict_client.post(
        f"{V}/stamp",
        content=body,
        headers={**tenant.headers, "Content-Type": "application/json", "Idempotency-Key": "deep-1"},
    )
    assert 400 <= response.status_code < 500 and "error_code" in response.json()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # SQLite stores NUL: a plain 404 there
async def test_a_nul_character_in_the_path_is_one_line_of_log_and_no_traceback(
    strict_client: httpx.AsyncClient, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    response = await strict_client.get("/api/v1/loyalty/programs/a%00b")

    assert_error(response, 422, "VALIDATION_ERROR")
    assert _tracebacks(caplog) == []
    assert [record.name for record in caplog.records if record.levelno >= logging.WARNING] in ([], ["loyalty.errors"])


async def test_a_failure_of_ours_is_one_500_with_one_traceback(
    strict_client: httpx.AsyncClient, tenant: Tenant, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(programs, "get_program", broken)
    response = await strict_client.get(f"{V}/program", headers=tenant.headers)

    details = assert_error(response, 500, "INTERNAL_ERROR")
    assert details["request_id"] == response.headers["X-Request-ID"]
    assert len(_tracebacks(caplog)) == 1


# --- secrets stay out of the log (every test's log is scanned too: tests/fixtures.py) -------------


async def test_a_refused_pin_leaves_no_hash_or_fingerprint_in_the_log(
    strict_client: httpx.AsyncClient, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    response = await strict_client.post(f"{V}/pins", json={"name": "a\u0000", "pin": "9998"}, headers=tenant.headers)

    assert response.status_code in (201, 422)  # PostgreSQL refuses the NUL; SQLite stores it
    log = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("httpx"))
    assert "$2b$" not in log and "9998" not in log
    assert not any(word in log for word in ("pin_hash", "pin_lookup", "parameters"))


async def test_a_card_token_in_a_path_no_route_serves_is_redacted(
    strict_client: httpx.AsyncClient, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    response = await strict_client.get(f"/api/v1/loyalty/cards/{tenant.card_token}/pass")

    assert_error(response, 404, "ROUTE_NOT_FOUND")
    service_log = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("httpx"))
    assert tenant.card_token not in service_log
    assert '"path": "/api/v1/loyalty/cards/{redacted}/pass"' in service_log


async def test_a_token_without_a_digit_is_redacted_too(
    strict_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A random 32-character token holds no digit about once in 230 draws: the log must not depend on luck."""
    caplog.set_level(logging.INFO)
    digitless = "nToXqOFMOawrXpTfjtGuyIfQJLbIsckN"  # a real token of a CI run that was logged in clear

    response = await strict_client.get(f"/api/v1/loyalty/cards/{digitless}/pass")

    assert_error(response, 404, "ROUTE_NOT_FOUND")
    service_log = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("httpx"))
    assert digitless not in service_log
    assert '"path": "/api/v1/loyalty/cards/{redacted}/pass"' in service_log


def test_the_log_scan_finds_each_kind_of_secret() -> None:
    """The scan that runs around every test would see each of these (it is not a scan that cannot fail)."""
    samples = {
        "API key": "lyk_live_" + "A1b2C3d4E5f6G7h8I9j0K1l2",
        "bcrypt hash": "$2b$12$abcdefghijklmnopqrstuu",
        "SHA-256 (key hash, PIN fingerprint)": "ab" * 32,
        "e-mail address": "marie@example.com",
        "card token or QR code": "zrWSdR3QH_rUGt7aRHWHHcnVSiQ9PWqN",
    }
    assert {kind for kind, text in samples.items() if SECRET_PATTERNS[kind].search(f"x {text} y")} == set(samples)
    assert not SECRET_PATTERNS["card token or QR code"].search("request 65bb6af2e51e4bb99693d78e0755730c")
