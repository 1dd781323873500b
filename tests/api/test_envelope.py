"""Every failure answers in the contract's envelope — including FastAPI's own errors and crashes."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.tenants import Tenant

pytestmark = pytest.mark.anyio


def assert_envelope(body: dict[str, Any], code: str) -> None:
    assert set(body) == {"error_code", "message", "details"}
    assert body["error_code"] == code
    assert isinstance(body["message"], str) and body["message"]


async def test_unknown_route_is_404_route_not_found(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert_envelope(response.json(), "ROUTE_NOT_FOUND")


async def test_wrong_method_is_405(client: httpx.AsyncClient) -> None:
    response = await client.delete("/api/v1/loyalty/health")
    assert response.status_code == 405
    assert_envelope(response.json(), "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == "GET"


async def test_405_allows_every_method_of_the_path(client: httpx.AsyncClient, tenant: Tenant) -> None:
    """RFC 9110: a 405 names the methods the path does answer, all of them (GET, POST and PATCH here are
    three routes; Starlette's own 405 named the first one's only)."""
    response = await client.delete("/api/v1/vendor/loyalty/program", headers=tenant.headers)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST, PATCH"
    response = await client.put("/api/v1/vendor/loyalty/pins/1", headers=tenant.headers)
    assert response.status_code == 405
    assert response.headers["allow"] == "PATCH, DELETE"


async def test_malformed_json_is_422_with_field_errors(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post(
        "/api/v1/vendor/loyalty/stamp",
        content=b'{"card_id": 1,',
        headers={**tenant.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    body = response.json()
    assert_envelope(body, "VALIDATION_ERROR")
    assert body["details"]["errors"] == [
        {"field": "body", "message": "The body is not valid JSON: see line 1, column 15"}
    ]


async def test_wrong_types_name_the_field(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post(
        "/api/v1/vendor/loyalty/points/earn",
        json={"card_id": tenant.card_id, "purchase_amount_cents": "lots"},
        headers=tenant.headers,
    )
    assert response.status_code == 422
    fields = [error["field"] for error in response.json()["details"]["errors"]]
    assert "purchase_amount_cents" in fields


async def test_missing_key_is_401_and_revealing_nothing(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/vendor/loyalty/program")
    assert response.status_code == 401
    assert_envelope(response.json(), "UNAUTHENTICATED")
    assert response.headers["www-authenticate"] == 'Bearer realm="loyalty"'


@pytest.mark.parametrize("authorization", ["Bearer lyk_live_not_a_key", "bearer nope"])
async def test_a_refused_key_is_401_with_invalid_token(client: httpx.AsyncClient, authorization: str) -> None:
    """RFC 6750 section 3: a bearer token sent and refused is `error="invalid_token"`."""
    response = await client.get("/api/v1/vendor/loyalty/program", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert_envelope(response.json(), "UNAUTHENTICATED")
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="loyalty", error="invalid_token"'), challenge


async def test_another_scheme_is_asked_for_a_bearer_key(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.get("/api/v1/vendor/loyalty/program", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="loyalty"'
    authenticated = await client.get("/api/v1/vendor/loyalty/program", headers=tenant.headers)
    assert authenticated.status_code == 200 and "www-authenticate" not in authenticated.headers


async def test_messages_follow_accept_language_but_codes_do_not(client: httpx.AsyncClient) -> None:
    english = (await client.get("/api/v1/vendor/loyalty/program")).json()
    french = (await client.get("/api/v1/vendor/loyalty/program", headers={"Accept-Language": "fr"})).json()
    assert english["error_code"] == french["error_code"] == "UNAUTHENTICATED"
    assert english["message"] != french["message"]


async def test_unexpected_error_is_500_with_request_id_and_logged(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    @app.get("/api/v1/loyalty/_boom")
    async def boom() -> None:
        raise RuntimeError("kaboom")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        with caplog.at_level(logging.ERROR, logger="loyalty.errors"):
            response = await http.get("/api/v1/loyalty/_boom")
    assert response.status_code == 500
    body = response.json()
    assert_envelope(body, "INTERNAL_ERROR")
    request_id = body["details"]["request_id"]
    assert request_id and response.headers["x-request-id"] == request_id
    assert any(request_id in record.getMessage() and record.exc_info for record in caplog.records)
    assert "kaboom" not in response.text
