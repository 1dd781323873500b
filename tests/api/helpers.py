"""Helpers for the API tests: the contract's error envelope, the Authorization header, the round trips counted."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The answer is the contract's error `code` with `status`; returns its details."""
    assert response.status_code == status, response.text
    assert response.json()["error_code"] == code
    details: dict[str, Any] = response.json()["details"]
    return details


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def count_round_trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """From now on, the first word of every statement asyncpg sends (BEGIN, SELECT, WITH …), in order: what a
    request costs in round trips to PostgreSQL (each ~85 µs of a worker's CPU here, docs/performance.md)."""
    sent: list[str] = []
    for name in ("execute", "fetch", "fetchrow", "fetchval", "prepare"):
        real = getattr(asyncpg.Connection, name)

        async def counted(self: asyncpg.Connection, query: str, *args: Any, _real: Any = real, **kw: Any) -> Any:
            sent.append(query.split(None, 1)[0].rstrip(";").upper())
            return await _real(self, query, *args, **kw)

        monkeypatch.setattr(asyncpg.Connection, name, counted)
    return sent
