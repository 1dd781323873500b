"""Inputs that once gave a 500: each is now a client error in the envelope, logged as one line, with
nothing written; and a real failure of ours is one 500 with one traceback, the connection kept."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from loyalty.services import programs
from tests.api.conftest import Tenant, assert_error

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


async def test_an_id_past_the_largest_id_is_a_422(strict_client, tenant: Tenant):
    response = await strict_client.post(
        f"{V}/transactions/9223372036854775808/void",
        json={"reason": "x", "staff_pin": tenant.pin},
        headers=tenant.headers,
    )
    assert_error(response, 422, "VALIDATION_ERROR")


@pytest.mark.parametrize("accept", ["application/json", "text/csv"])
async def test_an_instant_that_utc_cannot_hold_is_a_422(strict_client, tenant: Tenant, accept: str):
    response = await strict_client.get(
        f"{V}/transactions",
        params={"since": "0001-01-01T00:00:00+14:00"},
        headers={**tenant.headers, "Accept": accept},
    )
    details = assert_error(response, 422, "VALIDATION_ERROR")
    assert details["errors"][0]["field"] == "since"


async def test_deeply_nested_json_with_an_idempotency_key_is_a_client_error(strict_client, tenant: Tenant):
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
    strict_client, tenant: Tenant, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO)
    response = await strict_client.get("/api/v1/loyalty/programs/a%00b")

    assert_error(response, 422, "VALIDATION_ERROR")
    assert _tracebacks(caplog) == []
    assert [record.name for record in caplog.records if record.levelno >= logging.WARNING] in ([], ["loyalty.errors"])


async def test_a_failure_of_ours_is_one_500_with_one_traceback(
    strict_client, tenant: Tenant, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
):
    async def broken(*_: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(programs, "get_program", broken)
    response = await strict_client.get(f"{V}/program", headers=tenant.headers)

    details = assert_error(response, 500, "INTERNAL_ERROR")
    assert details["request_id"] == response.headers["X-Request-ID"]
    assert len(_tracebacks(caplog)) == 1
