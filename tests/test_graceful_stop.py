"""`loyalty serve` stops gracefully on SIGTERM, run as production runs it: the console script in a
subprocess, on PostgreSQL, with one worker and with two.

The staff PIN is hashed with bcrypt cost 13 (~0.4 s of CPU a verification here; six of them share two
cores), so the counter requests are still being worked on when the signal arrives: the test waits
until every one of them holds its database transaction (pg_stat_activity) before it sends SIGTERM.
Then every request in flight must answer 201, a connection opened after the signal must get no
answer, the process must exit with status 0 within the grace, and the ledger must hold exactly the
acknowledged entries. A request stuck past LOYALTY_SHUTDOWN_GRACE_SECONDS is cancelled and rolls back.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest

from loyalty.clock import SystemClock
from loyalty.db import Database
from tests.api.helpers import bearer
from tests.databases import asyncpg_dsn
from tests.fixtures import test_settings
from tests.tenants import Tenant, make_tenant

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

LOYALTY = Path(sys.executable).parent / "loyalty"
PIN_ROUNDS = 13  # the cost of the PIN's hash is what makes a verification slow (~0.4 s here)
IN_FLIGHT = 6
GRACE_SECONDS = 15
EARN = "/api/v1/vendor/loyalty/points/earn"
HEALTH = "/api/v1/loyalty/health"


@dataclass
class Server:
    process: asyncio.subprocess.Process
    base_url: str
    log: Path
    workers: int

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    async def wait_for_log(self, line: str, count: int, *, within: float) -> None:
        async def logged() -> bool:
            return self.log_text().count(line) >= count

        await wait_until(logged, f"{count} x {line!r} in the log", within=within)

    async def wait_for_exit(self, *, within: float) -> int:
        try:
            async with asyncio.timeout(within):
                return await self.process.wait()
        except TimeoutError:
            raise AssertionError(f"the server did not exit within {within} s\n{self.log_text()}") from None


async def wait_until(condition: Callable[[], Awaitable[bool]], what: str, *, within: float) -> None:
    try:
        async with asyncio.timeout(within):
            while True:
                if await condition():
                    return
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"waited {within} s for {what}") from None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def seed(url: str, *, pin_rounds: int) -> Tenant:
    """A vendor, its key, a hybrid programme (points: 1 per euro), a staff PIN hashed at `pin_rounds`
    and one card, through the services."""
    settings = test_settings(url, bcrypt_rounds=pin_rounds)
    database = Database.from_url(url)
    try:
        return await make_tenant(database, settings, SystemClock(), slug=f"graceful-{uuid.uuid4().hex[:12]}")
    finally:
        await database.dispose()


@asynccontextmanager
async def running_server(url: str, tmp_path: Path, *, workers: int, grace: int) -> AsyncIterator[Server]:
    """`loyalty serve --workers N` on a free port, ready (every worker started, health answering)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("LOYALTY_")}
    env.update(
        LOYALTY_DATABASE_URL=url,
        LOYALTY_SECRET_KEY=test_settings(url).secret_key,  # the PIN fingerprint is keyed by it
        LOYALTY_BCRYPT_ROUNDS=str(PIN_ROUNDS),
        LOYALTY_SHUTDOWN_GRACE_SECONDS=str(grace),
        LOYALTY_PIN_CHECKS_AT_ONCE=str(IN_FLIGHT),  # every PIN request in flight at once, none waiting its turn
        LOYALTY_LOG_LEVEL="INFO",
    )
    port = free_port()
    log = tmp_path / f"serve-{workers}.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            *(str(LOYALTY), "serve", "--port", str(port), "--workers", str(workers)),
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the clean-up below reaches the workers too
        )
    server = Server(process, f"http://127.0.0.1:{port}", log, workers)
    try:
        await server.wait_for_log("Application startup complete.", workers, within=20)
        async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as client:
            assert (await client.get(HEALTH)).status_code == 200, server.log_text()
        yield server
    finally:
        if process.returncode is None:
            os.killpg(process.pid, signal.SIGKILL)
            await process.wait()


async def earn(server: Server, tenant: Tenant, reference: str) -> httpx.Response:
    """One counter request on a connection of its own."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=GRACE_SECONDS + 10) as client:
        return await client.post(
            EARN,
            headers=bearer(tenant.key),
            json={
                "card_id": tenant.card_id,
                "purchase_amount_cents": 1000,
                "staff_pin": tenant.pin,
                "order_reference": reference,
            },
        )


async def outcome(server: Server, tenant: Tenant, reference: str) -> httpx.Response | httpx.TransportError:
    try:
        return await earn(server, tenant, reference)
    except httpx.TransportError as exc:
        return exc


def backends(db: asyncpg.Connection, condition: str, wanted: int) -> Callable[[], Awaitable[bool]]:
    """Whether at least `wanted` connections to this database, other than `db`, meet `condition`."""
    query = (
        "SELECT count(*) FROM pg_stat_activity"
        f" WHERE datname = current_database() AND pid <> pg_backend_pid() AND {condition}"
    )

    async def met() -> bool:
        return int(await db.fetchval(query)) >= wanted

    return met


async def ledger(db: asyncpg.Connection, card_id: int) -> dict[str, int]:
    rows = await db.fetch("SELECT order_reference, id FROM loyalty_transactions WHERE card_id = $1", card_id)
    return {row["order_reference"]: row["id"] for row in rows}


@pytest.mark.parametrize("workers", [1, 2])
async def test_sigterm_lets_the_requests_in_flight_finish_and_loses_no_write(
    pg_database_url: str, tmp_path: Path, workers: int
) -> None:
    tenant = await seed(pg_database_url, pin_rounds=PIN_ROUNDS)
    db = await asyncpg.connect(asyncpg_dsn(pg_database_url))
    try:
        async with running_server(pg_database_url, tmp_path, workers=workers, grace=GRACE_SECONDS) as server:
            answered_at: dict[str, float] = {}

            async def timed(reference: str) -> httpx.Response | httpx.TransportError:
                result = await outcome(server, tenant, reference)
                answered_at[reference] = time.monotonic()
                return result

            references = [f"in-flight-{i}" for i in range(IN_FLIGHT)]
            in_flight = {reference: asyncio.create_task(timed(reference)) for reference in references}
            # Every request is inside the server, in its transaction (verifying the PIN: ~0.4 s of CPU each).
            in_transaction = backends(db, "xact_start IS NOT NULL", IN_FLIGHT)
            await wait_until(in_transaction, f"{IN_FLIGHT} requests in flight", within=10)
            assert not answered_at, f"finished before the signal, so not in flight: {sorted(answered_at)}"

            signalled_at = time.monotonic()
            server.process.send_signal(signal.SIGTERM)

            # Each worker closes its listening socket right after logging this.
            await server.wait_for_log("Shutting down", workers, within=5)
            await asyncio.sleep(0.2)
            late = asyncio.create_task(outcome(server, tenant, "after-sigterm"))

            results = {reference: await task for reference, task in in_flight.items()}
            status = await server.wait_for_exit(within=GRACE_SECONDS)
            stopped_after = time.monotonic() - signalled_at
            late_result = await asyncio.wait_for(late, timeout=10)
            log = server.log_text()

        acknowledged: dict[str, int] = {}
        for reference, result in results.items():
            assert isinstance(result, httpx.Response), f"{reference}: {result!r}\n{log}"
            assert result.status_code == 201, f"{reference}: {result.status_code} {result.text}\n{log}"
            assert answered_at[reference] > signalled_at  # it was answered during the drain
            acknowledged[reference] = result.json()["transaction_id"]
        assert status == 0, log
        assert stopped_after < GRACE_SECONDS
        # No new connection is served once the signal is handled: refused with one worker; with
        # several, the supervisor holds the listening socket until it exits, which resets the
        # connections the kernel queued meanwhile.
        assert isinstance(late_result, httpx.TransportError), f"answered after SIGTERM: {late_result!r}"
        if workers == 1:
            assert isinstance(late_result, httpx.ConnectError), repr(late_result)

        assert await ledger(db, tenant.card_id) == acknowledged
        assert "Traceback" not in log, log
    finally:
        await db.close()


async def test_a_request_stuck_past_the_grace_is_cancelled_and_rolls_back(pg_database_url: str, tmp_path: Path) -> None:
    """A request waits on the card's row lock (taken here): SIGTERM must still end the process, a grace
    later, with status 0; the request gets no 2xx and writes nothing."""
    grace = 2
    tenant = await seed(pg_database_url, pin_rounds=4)
    db = await asyncpg.connect(asyncpg_dsn(pg_database_url))
    try:
        async with running_server(pg_database_url, tmp_path, workers=1, grace=grace) as server:
            holder = db.transaction()
            await holder.start()
            try:
                await db.execute("SELECT id FROM loyalty_cards WHERE id = $1 FOR UPDATE", tenant.card_id)
                stuck = asyncio.create_task(outcome(server, tenant, "stuck"))
                waiting = backends(db, "wait_event_type = 'Lock'", 1)
                await wait_until(waiting, "the request to wait on the card's lock", within=10)

                signalled_at = time.monotonic()
                server.process.send_signal(signal.SIGTERM)
                status = await server.wait_for_exit(within=grace + 10)
                stopped_after = time.monotonic() - signalled_at
                result = await asyncio.wait_for(stuck, timeout=10)
            finally:
                await holder.rollback()
            log = server.log_text()

        assert status == 0, log
        assert grace <= stopped_after < grace + 5, log
        assert not (isinstance(result, httpx.Response) and result.is_success), result
        assert await ledger(db, tenant.card_id) == {}
    finally:
        await db.close()
