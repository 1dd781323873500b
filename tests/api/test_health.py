"""`/api/v1/loyalty/health` reports the schema state, through a real `loyalty serve` (subprocess, free
port) on SQLite and on PostgreSQL: the schema is migrated back and forth while the server runs (by this
process, through `migrate` as `loyalty db upgrade` and `downgrade` do: tests/test_cli.py runs those
commands), and health follows at its next call, with no restart."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import httpx
import pytest

from loyalty import migrate
from tests.commands import HEALTH, loyalty_server
from tests.test_migrations import fresh_postgres_database


def environment(url: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("LOYALTY_")}
    env.update(LOYALTY_DATABASE_URL=url, LOYALTY_BCRYPT_ROUNDS="4")
    return env


def serving(url: str, cwd: Path) -> AbstractContextManager[str]:
    return loyalty_server("serve", environment(url), cwd)


@contextmanager
def database_of(kind: str, tmp_path: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'health.db'}"
    else:
        with fresh_postgres_database() as url:
            yield url


def assert_unhealthy(answer: httpx.Response, schema: str) -> dict[str, object]:
    assert answer.status_code == 503, answer.text
    body = answer.json()
    assert body["error_code"] == "SERVICE_UNAVAILABLE" and body["message"]
    assert (body["status"], body["database"], body["schema"]) == ("unavailable", "ok", schema)
    assert int(answer.headers["Retry-After"]) > 0
    details: dict[str, object] = body["details"]
    assert details["code_revision"] == migrate.code_head()
    return details


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_health_reports_a_schema_behind_missing_or_ahead_of_the_code(kind: str, tmp_path: Path) -> None:
    head = migrate.code_head()
    with database_of(kind, tmp_path) as url:
        migrate.upgrade(url)
        with serving(url, tmp_path) as base:
            ok = httpx.get(base + HEALTH)
            assert ok.status_code == 200, ok.text
            assert ok.json() == {"status": "ok", "database": "ok", "schema": "ok"}

            migrate.downgrade(url, "-1")  # one revision back, under the running server
            details = assert_unhealthy(httpx.get(base + HEALTH), "behind")
            assert details["schema_revision"] != head and "loyalty db upgrade" in str(details["action"])

            migrate.downgrade(url, "base")
            details = assert_unhealthy(httpx.get(base + HEALTH), "missing")
            assert details["schema_revision"] is None

            migrate.upgrade(url)
            assert httpx.get(base + HEALTH).json() == {"status": "ok", "database": "ok", "schema": "ok"}

            if kind == "sqlite":  # a revision these migrations do not have: a newer release migrated it
                with sqlite3.connect(tmp_path / "health.db") as db:
                    db.execute("UPDATE alembic_version SET version_num = 'ffff'")
                details = assert_unhealthy(httpx.get(base + HEALTH), "ahead")
                assert details["schema_revision"] == "ffff"
