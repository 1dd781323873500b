"""One structured line per request, with no PIN, key or token in it."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest

from tests.tenants import Tenant

pytestmark = pytest.mark.anyio


def request_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "loyalty.requests"]


async def test_one_line_per_request_with_the_fields_operators_need(
    client: httpx.AsyncClient, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="loyalty.requests"):
        response = await client.get("/api/v1/vendor/loyalty/program", headers=tenant.headers)
    lines = request_lines(caplog)
    assert len(lines) == 1
    line = lines[0]
    assert line["method"] == "GET" and line["path"] == "/api/v1/vendor/loyalty/program"
    assert line["status"] == response.status_code
    assert line["vendor_id"] == tenant.vendor_id
    assert line["request_id"] == response.headers["x-request-id"]
    assert line["duration_ms"] >= 0


async def test_no_secret_reaches_the_log(
    client: httpx.AsyncClient, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        await client.post(
            "/api/v1/vendor/loyalty/stamp",
            json={"card_id": tenant.card_id, "staff_pin": tenant.pin},
            headers=tenant.headers,
        )
        await client.get(f"/api/v1/loyalty/cards/{tenant.card_token}")
    # httpx's own lines are this test client's, not the service's.
    text = "\n".join(record.getMessage() for record in caplog.records if not record.name.startswith("httpx"))
    assert "loyalty.requests" in {record.name for record in caplog.records}
    assert tenant.key not in text
    assert tenant.card_token not in text
    assert f'"{tenant.pin}"' not in text and f"staff_pin={tenant.pin}" not in text
