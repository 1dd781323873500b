"""Helpers for the API tests: the contract's error envelope and the Authorization header."""

from __future__ import annotations

from typing import Any

import httpx


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The answer is the contract's error `code` with `status`; returns its details."""
    assert response.status_code == status, response.text
    assert response.json()["error_code"] == code
    details: dict[str, Any] = response.json()["details"]
    return details


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
