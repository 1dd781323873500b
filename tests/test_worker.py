"""`loyalty worker` against a local APNs peer that answers as Apple documents (tests/apns_peer.py), on
PostgreSQL: pushes per registered device, coalescing, the table of APNs answers, retries, parking and
two workers sharing the work (WALLET.md, "Updates")."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select, text

from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.models import AppleDeviceRegistration, OutboxStatus
from loyalty.services import outbox
from loyalty.services.context import Context
from loyalty.wallet.dev_certs import DEV_PASS_TYPE_ID
from loyalty.worker import Worker, apns_client
from tests.api.apple_device import Device
from tests.apns_peer import ApnsPeer, dev_apns_peer
from tests.fixtures import DevWallet, drain, outbox_rows, test_settings
from tests.tenants import Tenant

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


@pytest.fixture(scope="module")
def peer(dev_wallet: DevWallet) -> Iterator[ApnsPeer]:
    with dev_apns_peer(dev_wallet.paths) as running:
        yield running


@pytest.fixture
def database_url(pg_database_url: str) -> str:
    return pg_database_url


@pytest.fixture
def settings(database_url: str, dev_wallet: DevWallet, peer: ApnsPeer) -> Settings:
    peer.reset()
    return test_settings(
        database_url,
        **dev_wallet.settings,
        apns_url=peer.url,
        apns_ca_file=dev_wallet.paths.root_certificate,
    )


@pytest.fixture
async def worker(database: Database, settings: Settings, clock: FixedClock) -> AsyncIterator[Worker]:
    running = Worker(database, settings, clock, apns=apns_client(settings))
    yield running
    if running.apns is not None:
        await running.apns.close()


async def no_cooldown(client: httpx.AsyncClient, tenant: Tenant) -> None:
    answer = await client.patch(
        "/api/v1/vendor/loyalty/program", json={"cooldown_minutes": 0, "max_daily_stamps": 100}, headers=tenant.headers
    )
    assert answer.status_code == 200, answer.text


async def stamp(client: httpx.AsyncClient, tenant: Tenant) -> None:
    answer = await client.post(
        "/api/v1/vendor/loyalty/stamp", json={"card_id": tenant.card_id, "staff_pin": "1234"}, headers=tenant.headers
    )
    assert answer.status_code == 201, answer.text


async def two_devices(client: httpx.AsyncClient, tenant: Tenant) -> list[str]:
    """Two devices hold the card's pass; returns their push tokens."""
    tokens = ["a" * 64, "b" * 64]
    for number, token in enumerate(tokens):
        device = Device(client, f"device-{number}")
        answer = await device.register(await device.add(tenant), push_token=token)
        assert answer.status_code == 201
    return tokens


async def test_a_stamp_pushes_once_to_each_registered_device_with_the_pass_type_as_topic(
    client: httpx.AsyncClient, tenant: Tenant, worker: Worker, peer: ApnsPeer, clock: FixedClock
) -> None:
    tokens = await two_devices(client, tenant)
    await stamp(client, tenant)

    await drain(worker, clock)

    pushes = peer.requests
    assert sorted(request.token or "" for request in pushes) == tokens
    for request in pushes:
        assert request.method == "POST" and request.http_version == "2"
        assert request.topic == DEV_PASS_TYPE_ID
        assert request.push_type == "alert" and request.priority == "10"
        assert request.body == b"{}"
    [handshake] = peer.handshakes  # one HTTP/2 connection for both pushes, made with the pass certificate
    assert f"UID={DEV_PASS_TYPE_ID}" in handshake.subject
    assert [row.status for row in await outbox_rows(worker.database)] == [OutboxStatus.SENT]


async def test_a_burst_of_stamps_gives_one_push_per_device(
    client: httpx.AsyncClient, tenant: Tenant, worker: Worker, peer: ApnsPeer, clock: FixedClock
) -> None:
    await no_cooldown(client, tenant)
    await two_devices(client, tenant)
    for _ in range(10):
        await stamp(client, tenant)

    await drain(worker, clock)

    assert len(peer.requests) == 2
    assert len(await outbox_rows(worker.database)) == 1


@pytest.mark.parametrize("change", ["deactivate", "erase"])
async def test_deactivating_a_card_or_erasing_its_customer_pushes_the_voided_pass(
    client: httpx.AsyncClient, tenant: Tenant, worker: Worker, peer: ApnsPeer, clock: FixedClock, change: str
) -> None:
    """Both move the pass version (the pass is now voided): the devices must be told, as after a stamp."""
    tokens = await two_devices(client, tenant)
    vendor = "/api/v1/vendor/loyalty"
    if change == "deactivate":
        answer = await client.post(f"{vendor}/cards/{tenant.card_id}/deactivate", headers=tenant.headers)
    else:
        customer = (await client.get(f"{vendor}/cards/{tenant.card_id}", headers=tenant.headers)).json()["customer"]
        answer = await client.post(f"{vendor}/customers/{customer['id']}/erase", headers=tenant.headers)
    assert answer.status_code in (200, 204), answer.text

    await drain(worker, clock)

    assert sorted(request.token or "" for request in peer.requests) == tokens


async def test_gone_devices_lose_their_registration_and_no_other(
    client: httpx.AsyncClient, tenant: Tenant, worker: Worker, peer: ApnsPeer, clock: FixedClock
) -> None:
    gone, kept = await two_devices(client, tenant)
    peer.answer_token(gone, (410, "Unregistered"))
    await stamp(client, tenant)

    await drain(worker, clock)

    async with worker.database.unit_of_work() as session:
        left = list(await session.scalars(select(AppleDeviceRegistration.push_token)))
    assert left == [kept]
    wallet = await client.get(f"/api/v1/vendor/loyalty/cards/{tenant.card_id}/wallet", headers=tenant.headers)
    assert wallet.json()["apple"]["registered_devices"] == 1
    assert wallet.json()["apple"]["last_push_status"] == "200"


async def test_a_server_error_is_retried_after_a_back_off_and_then_succeeds(
    client: httpx.AsyncClient, tenant: Tenant, worker: Worker, peer: ApnsPeer, clock: FixedClock
) -> None:
    device = Device(client)
    await device.register(await device.add(tenant), push_token="c" * 64)
    peer.script((500, "InternalServerError"))
    await stamp(client, tenant)

    await drain(worker, clock)
    [waiting] = await outbox_rows(worker.database)
    assert (waiting.status, waiting.attempts) == (OutboxStatus.PENDING, 1)
    assert waiting.last_error == "APNs: 500 InternalServerError"
    assert waiting.due_at > clock.now()  # backed off: not due at once

    clock.advance(timedelta(minutes=1))
    await drain(worker, clock)

    assert [request.status for request in peer.requests] == [500, 200]
    assert [row.status for row in await outbox_rows(worker.database)] == [OutboxStatus.SENT]


async def test_a_configuration_error_parks_the_row_and_keeps_the_registrations(
    client: httpx.AsyncClient, tenant: Tenant, worker: Worker, peer: ApnsPeer, clock: FixedClock
) -> None:
    await two_devices(client, tenant)
    peer.script((403, "BadCertificate"))
    await stamp(client, tenant)

    await drain(worker, clock)

    [parked] = await outbox_rows(worker.database)
    assert parked.status == OutboxStatus.PARKED
    assert parked.last_error is not None and "BadCertificate" in parked.last_error
    async with worker.database.unit_of_work() as session:
        assert await session.scalar(select(func.count()).select_from(AppleDeviceRegistration)) == 2


async def test_a_change_while_its_row_is_being_sent_queues_a_new_one(
    client: httpx.AsyncClient, tenant: Tenant, worker: Worker, database: Database, settings: Settings, clock: FixedClock
) -> None:
    await no_cooldown(client, tenant)
    await two_devices(client, tenant)
    await stamp(client, tenant)
    clock.advance(timedelta(seconds=3))
    async with database.unit_of_work() as session:
        [claimed] = await outbox.claim_due(Context(session, settings, clock), 10)

    await stamp(client, tenant)  # lands while the first row is `sending`

    statuses = sorted(row.status for row in await outbox_rows(database))
    assert statuses == [OutboxStatus.PENDING, OutboxStatus.SENDING]
    assert claimed.card_id == tenant.card_id


async def test_two_workers_draining_a_thousand_rows_send_each_once(
    database: Database, settings: Settings, clock: FixedClock, tenant: Tenant, peer: ApnsPeer
) -> None:
    async with database.unit_of_work() as session:
        await session.execute(
            text(
                "INSERT INTO apple_device_registrations (vendor_id, card_id, device_library_identifier, push_token,"
                " pass_type_identifier, serial_number, created_at)"
                " VALUES (:vendor, :card, 'bulk-device', 'd' || repeat('0', 63), :type, 'bulk', :now)"
            ),
            {"vendor": tenant.vendor_id, "card": tenant.card_id, "type": DEV_PASS_TYPE_ID, "now": clock.now()},
        )
        await session.execute(
            text(
                "INSERT INTO wallet_outbox (vendor_id, card_id, provider, pass_version, status, attempts, due_at,"
                " created_at) SELECT :vendor, :card, 'apple', :now, 'sent', 0, :now, :now FROM generate_series(1, 1000)"
            ),
            {"vendor": tenant.vendor_id, "card": tenant.card_id, "now": clock.now()},
        )
        # sent rows are history: make them pending, each a row of its own (the coalescing index holds one
        # pending row per card, so they stand for a thousand cards' updates)
        await session.execute(text("DROP INDEX uq_wallet_outbox_pending_card_provider"))
        await session.execute(text("UPDATE wallet_outbox SET status = 'pending'"))
    workers = [Worker(database, settings, clock, apns=apns_client(settings)) for _ in range(2)]
    clock.advance(timedelta(seconds=3))

    async def drain_one(worker: Worker) -> int:
        claimed = 0
        while count := await worker.run_once():
            claimed += count
        return claimed

    try:
        claimed = await asyncio.gather(*(drain_one(worker) for worker in workers))
    finally:
        for worker in workers:
            assert worker.apns is not None
            await worker.apns.close()
        async with database.unit_of_work() as session:
            await session.execute(text("DELETE FROM wallet_outbox"))
            await session.execute(
                text(
                    "CREATE UNIQUE INDEX uq_wallet_outbox_pending_card_provider ON wallet_outbox (card_id, provider)"
                    " WHERE status = 'pending'"
                )
            )

    # None claimed a row twice. (Whether both got rows depends on the scheduler: on a loaded machine one may
    # drain all 1000 while the other still opens its HTTP/2 connection, so that is not asserted.)
    assert sum(claimed) == 1000
    assert len(peer.requests) == 1000


async def test_the_admin_sees_a_parked_update_and_a_retry_sends_it(
    client: httpx.AsyncClient, tenant: Tenant, worker: Worker, peer: ApnsPeer, clock: FixedClock, admin_key: str
) -> None:
    await two_devices(client, tenant)
    peer.script((403, "BadCertificate"))
    await stamp(client, tenant)
    await drain(worker, clock)
    admin = {"Authorization": f"Bearer {admin_key}"}

    parked = await client.get("/api/v1/admin/loyalty/wallet/outbox", params={"status": "parked"}, headers=admin)
    [row] = parked.json()["items"]
    retried = await client.post(f"/api/v1/admin/loyalty/wallet/outbox/{row['id']}/retry", headers=admin)
    await drain(worker, clock)
    again = await client.post(f"/api/v1/admin/loyalty/wallet/outbox/{row['id']}/retry", headers=admin)
    stats = await client.get("/api/v1/vendor/loyalty/wallet/stats", headers=tenant.headers)

    assert (row["card_id"], row["provider"], row["status"], row["attempts"]) == (tenant.card_id, "apple", "parked", 1)
    assert "BadCertificate" in row["last_error"]
    assert retried.status_code == 200 and retried.json()["status"] == "pending"
    assert [request.status for request in peer.requests] == [403, 200, 200, 200]
    assert again.status_code == 404 and again.json()["error_code"] == "OUTBOX_ROW_NOT_FOUND"  # sent now
    assert stats.json() == {
        "apple_installed_cards": 1,
        "google_objects": None,
        "pushes_24h": 1,
        "failures_24h": 0,
        "oldest_pending_seconds": None,
    }


# Measured with EXPLAIN after ANALYZE at 1,000 to 1,000,000 sent rows: the claim's plan is the same at every
# size, and a claim broken three ways (no status condition, `status <> 'sent'`, the index dropped) fails the
# assertions below at every size. Fifty thousand rows take ~0.5 s to write; a million took ~20 s.
SENT_ROWS = 50_000


async def test_the_claim_reads_the_due_index_with_many_sent_rows_present(
    database: Database, tenant: Tenant, clock: FixedClock
) -> None:
    async with database.unit_of_work() as session:
        await session.execute(
            text(
                "INSERT INTO wallet_outbox (vendor_id, card_id, provider, pass_version, status, attempts, due_at,"
                " created_at, sent_at) SELECT :vendor, :card, 'apple', :now, 'sent', 0, :now, :now, :now"
                " FROM generate_series(1, :rows)"
            ),
            {"vendor": tenant.vendor_id, "card": tenant.card_id, "now": clock.now(), "rows": SENT_ROWS},
        )
    async with database.engine.connect() as connection:
        await connection.execute(text("ANALYZE wallet_outbox"))
        claim = outbox.due_rows(clock.now(), 50).compile(
            dialect=connection.dialect, compile_kwargs={"literal_binds": True}
        )
        plan = (await connection.execute(text(f"EXPLAIN {claim}"))).scalars().all()
        await connection.execute(text("TRUNCATE wallet_outbox"))
        await connection.commit()

    assert any("ix_wallet_outbox_due" in line for line in plan), "\n".join(plan)
    assert not any("Seq Scan" in line for line in plan), "\n".join(plan)
