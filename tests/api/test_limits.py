"""Bounded requests: headers (431), bodies (413) and the time to send a body (408) are limited before
anything is parsed, before the caller is identified and before a database connection is taken, so
slow or oversized clients cost sockets, not connections."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator, Iterator, MutableMapping
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from loyalty.app import create_app
from loyalty.clock import FixedClock
from loyalty.db import Database
from tests.api.helpers import assert_error
from tests.api.live_server import serve
from tests.databases import asyncpg_dsn
from tests.fixtures import empty_tables, test_settings
from tests.tenants import Tenant, make_tenant

pytestmark = pytest.mark.anyio

V = "/api/v1/vendor/loyalty"
ENROLL = "/api/v1/loyalty/programs/cafe-one/enroll"


async def test_a_declared_body_over_the_limit_is_refused_before_the_caller_is_known(client: httpx.AsyncClient) -> None:
    response = await client.post(
        f"{V}/stamp", content=b"{}", headers={"Content-Length": "70000", "Content-Type": "application/json"}
    )
    assert assert_error(response, 413, "PAYLOAD_TOO_LARGE") == {"max_bytes": 65_536}  # not a 401: no key was asked
    assert response.headers["Connection"] == "close"


async def test_a_streamed_body_is_cut_off_once_it_passes_the_limit(client: httpx.AsyncClient, tenant: Tenant) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"email": "a@example.com", "name": "'
        for _ in range(100):
            yield b"x" * 1_000  # no Content-Length: a chunked body, counted as it arrives

    response = await client.post(ENROLL, content=chunks(), headers={"Content-Type": "application/json"})
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert response.headers["Connection"] == "close"  # the rest is never read, so no keep-alive


async def test_too_many_or_too_large_headers_are_refused(client: httpx.AsyncClient, tenant: Tenant) -> None:
    many = {f"x-filler-{i}": "1" for i in range(120)}
    large = {"x-filler": "x" * 20_000}
    for headers in (many, large):
        response = await client.get(f"{V}/program", headers={**tenant.headers, **headers})
        assert assert_error(response, 431, "REQUEST_HEADER_FIELDS_TOO_LARGE") == {
            "max_bytes": 16_384,
            "max_headers": 100,
        }


async def test_a_body_that_does_not_arrive_in_time_is_a_408_and_holds_no_connection(
    database_url: str, clock: FixedClock
) -> None:
    """With a pool of one, a client trickling its body must not stop another request from being served."""
    settings = test_settings(database_url, db_pool_size=1, db_pool_timeout_seconds=1, body_timeout_seconds=0.5)
    database = Database.from_settings(settings)
    await empty_tables(database)
    tenant = await make_tenant(database, settings, clock, slug="cafe-one")
    app = create_app(settings, clock=clock, database=database)
    trickling = asyncio.Event()

    async def trickle() -> AsyncIterator[bytes]:
        yield b'{"email": '
        trickling.set()
        await asyncio.sleep(3)
        yield b'"late@example.com"}'

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=30) as client:
            slow = asyncio.create_task(client.post(ENROLL, content=trickle()))
            await trickling.wait()
            served = await client.get(f"{V}/program", headers=tenant.headers)
            timed_out = await slow
    finally:
        await database.dispose()

    assert served.status_code == 200
    assert assert_error(timed_out, 408, "REQUEST_TIMEOUT") == {"timeout_seconds": 0.5}
    assert timed_out.headers["Connection"] == "close"


# --- the issue's attack, through a real server ------------------------------------------------------


def _trickler(port: int, path: str) -> socket.socket:
    """A client that announces a 60,000-byte JSON body (under the limit) and sends its first byte only."""
    connection = socket.create_connection(("127.0.0.1", port))
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n{{"
    )
    connection.sendall(head.encode())
    return connection


@pytest.mark.postgres
async def test_forty_slow_clients_take_no_connection_from_health_and_the_counter(
    pg_database_url: str, clock: FixedClock
) -> None:
    settings = test_settings(pg_database_url, body_timeout_seconds=4)  # production's pool: 8, no overflow
    seeding = Database.from_settings(settings)
    try:
        await empty_tables(seeding)
        tenant = await make_tenant(seeding, settings, clock, slug="cafe-one")
    finally:
        await seeding.dispose()

    with serve(create_app(settings, clock=clock)) as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        slow = [_trickler(port, ENROLL if i % 2 else f"{V}/stamp") for i in range(40)]
        try:
            await asyncio.sleep(0.5)  # every slow client is connected and waiting on its body
            started = time.monotonic()
            async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
                health = await http.get("/api/v1/loyalty/health")
                program = await http.get(f"{V}/program", headers=tenant.headers)
            answered_within = time.monotonic() - started
            backends = await _backends_in_transaction(pg_database_url)
            cut_off = [_answer_status(connection) for connection in slow]
        finally:
            for connection in slow:
                connection.close()

    assert health.status_code == 200 and program.status_code == 200
    assert answered_within < settings.body_timeout_seconds / 2  # while the forty still trickle
    assert backends == 0  # no connection waits, idle in transaction, on a client's body
    assert set(cut_off) == {408}


def _answer_status(connection: socket.socket) -> int:
    connection.settimeout(10)
    status_line = connection.recv(64).split(b"\r\n", 1)[0]
    return int(status_line.split()[1])


async def _backends_in_transaction(database_url: str) -> int:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        return int(
            await connection.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"
            )
        )
    finally:
        await connection.close()


async def test_a_rewards_list_past_its_bound_is_refused(client: httpx.AsyncClient, tenant: Tenant) -> None:
    """The issue's 700,000-entry catalogue is refused unread (413); one entry past the schema's 200 is a 422."""
    huge = b'{"points_rewards": [' + b",".join([b'{"name":"r","points_required":1}'] * 700_000) + b"]}"
    one_too_many = [{"name": f"r{i}", "points_required": 1} for i in range(201)]

    unread = await client.patch(
        f"{V}/program", content=huge, headers={**tenant.headers, "Content-Type": "application/json"}
    )
    refused = await client.patch(f"{V}/program", json={"points_rewards": one_too_many}, headers=tenant.headers)

    assert_error(unread, 413, "PAYLOAD_TOO_LARGE")
    assert assert_error(refused, 422, "VALIDATION_ERROR")["errors"][0]["field"] == "points_rewards"


async def test_a_client_gone_while_sending_its_body_is_one_log_line(
    app: FastAPI, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    """Found in review: the disconnect escaped as a 500 with two tracebacks, which any client could
    repeat to flood the log."""
    caplog.set_level(logging.INFO)
    sent: list[MutableMapping[str, Any]] = []
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": ENROLL, "raw_path": ENROLL.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"1000")],
        "client": ("198.51.100.7", 50000), "server": ("test", 80), "state": {},
    }  # fmt: skip
    messages: Iterator[dict[str, Any]] = iter(
        [{"type": "http.request", "body": b'{"email": ', "more_body": True}, {"type": "http.disconnect"}]
    )

    async def receive() -> dict[str, Any]:
        return next(messages)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)

    assert sent[0]["status"] == 400
    assert [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []
