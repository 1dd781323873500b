"""`loyalty worker` writing Google Wallet classes and objects to a local peer that answers as Google
documents and validates every body against the `walletobjects.v1` discovery document (tests/google_peer.py),
on PostgreSQL (WALLET.md, "Google Wallet", "Updates" and "Tests"). The `google` fixture fails a test whose
worker sent a body the document refuses or a notice past Google's budget."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.models import GoogleWalletObject, OutboxStatus
from loyalty.services import outbox
from loyalty.services.context import Context
from loyalty.wallet.dev_certs import DEV_GOOGLE_ISSUER_ID
from loyalty.worker import Worker, walletobjects_client
from tests.fixtures import DevGoogle, drain, outbox_rows, test_settings
from tests.google_peer import RecordedRequest
from tests.tenants import Tenant, make_tenant

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

VENDOR = "/api/v1/vendor/loyalty"
OBJECTS = "/walletobjects/v1/loyaltyObject"
CLASSES = "/walletobjects/v1/loyaltyClass"


@pytest.fixture
def database_url(pg_database_url: str) -> str:
    return pg_database_url


@pytest.fixture
def settings(database_url: str, google: DevGoogle) -> Settings:
    return test_settings(database_url, **google.settings)


@pytest.fixture
async def worker(database: Database, settings: Settings, clock: FixedClock) -> AsyncIterator[Worker]:
    running = Worker(database, settings, clock, google=walletobjects_client(settings))
    yield running
    if running.google is not None:
        await running.google.close()


@pytest.fixture
async def card(database: Database, settings: Settings, clock: FixedClock) -> Tenant:
    """A stamp card of 5 with no cooldown and no daily limit, so a test can stamp it at will."""
    return await make_tenant(
        database, settings, clock, slug="cafe-google", program_type="stamps", stamps_target=5,
        cooldown_minutes=0, max_daily_stamps=100, stamps_reward_description="A free coffee",
    )  # fmt: skip


def object_id(google: DevGoogle) -> str:
    [found] = google.peer.objects
    return found


def calls(google: DevGoogle, method: str, prefix: str) -> list[RecordedRequest]:
    return [request for request in google.peer.requests if request.method == method and request.path.startswith(prefix)]


async def stamp(client: httpx.AsyncClient, tenant: Tenant) -> None:
    answer = await client.post(
        f"{VENDOR}/stamp", json={"card_id": tenant.card_id, "staff_pin": tenant.pin}, headers=tenant.headers
    )
    assert answer.status_code == 201, answer.text


async def hand_out_save_link(client: httpx.AsyncClient, tenant: Tenant) -> None:
    answer = await client.get(f"/api/v1/loyalty/cards/{tenant.card_token}/google-wallet")
    assert answer.status_code == 200, answer.text


def patch_bodies(google: DevGoogle, since: int = 0) -> list[dict[str, Any]]:
    return [request.body for request in calls(google, "PATCH", OBJECTS)[since:]]


async def test_a_new_programme_creates_its_class_once_under_review(
    client: httpx.AsyncClient, card: Tenant, worker: Worker, clock: FixedClock, google: DevGoogle
) -> None:
    await drain(worker, clock)
    await drain(worker, clock)  # nothing new: nothing sent
    unchanged = await client.patch(f"{VENDOR}/program", json={"cooldown_minutes": 5}, headers=card.headers)
    assert unchanged.status_code == 200
    await drain(worker, clock)

    [insert] = calls(google, "POST", CLASSES)
    assert calls(google, "PATCH", CLASSES) == []
    class_id = f"{DEV_GOOGLE_ISSUER_ID}.p{card.program_id}"
    assert insert.body["id"] == class_id and insert.body["reviewStatus"] == "UNDER_REVIEW"
    assert google.peer.classes[class_id]["programName"] == "cafe-google card"
    assert [row.status for row in await outbox_rows(worker.database)] == [OutboxStatus.SENT]


async def test_a_programme_change_patches_only_what_changed_and_asks_for_review_again(
    client: httpx.AsyncClient, card: Tenant, worker: Worker, clock: FixedClock, google: DevGoogle
) -> None:
    await drain(worker, clock)
    renamed = await client.patch(
        f"{VENDOR}/program", json={"card_name": "Coffee club", "card_color": "#6f4e37"}, headers=card.headers
    )
    assert renamed.status_code == 200, renamed.text

    await drain(worker, clock)

    [patch] = calls(google, "PATCH", CLASSES)
    assert set(patch.body) == {
        "programName",
        "localizedProgramName",
        "hexBackgroundColor",
        "programLogo",
        "reviewStatus",
    }
    assert patch.body["reviewStatus"] == "UNDER_REVIEW" and patch.body["hexBackgroundColor"] == "#6f4e37"
    assert len(calls(google, "POST", CLASSES)) == 1


async def test_the_first_write_after_the_save_link_inserts_the_whole_object(
    client: httpx.AsyncClient, card: Tenant, worker: Worker, clock: FixedClock, google: DevGoogle
) -> None:
    await hand_out_save_link(client, card)
    await drain(worker, clock)

    # The holder had not saved it yet: the PATCH finds nothing (404) and the worker inserts it whole.
    [patch] = calls(google, "PATCH", OBJECTS)
    assert patch.status == 404
    [insert] = calls(google, "POST", OBJECTS)
    assert insert.status == 200
    assert insert.body["heroImage"]["sourceUri"]["uri"].startswith("http://127.0.0.1:8000/wallet/img/stamps/5/0/")
    assert insert.body["linksModuleData"]["uris"][0]["uri"] == f"http://127.0.0.1:8000/card/{card.card_token}"
    assert "notifyPreference" not in insert.body and "notifyPreference" not in patch.body


async def test_a_stamp_patches_the_objects_balance_and_notifies(
    client: httpx.AsyncClient, card: Tenant, worker: Worker, clock: FixedClock, google: DevGoogle
) -> None:
    await hand_out_save_link(client, card)
    await drain(worker, clock)
    before = len(patch_bodies(google))

    await stamp(client, card)
    await drain(worker, clock)

    [body] = patch_bodies(google, before)
    assert set(body) == {"loyaltyPoints", "heroImage", "notifyPreference"}  # only what changed
    assert body["loyaltyPoints"]["balance"] == {"string": "1/5"}
    assert body["notifyPreference"] == "NOTIFY_ON_UPDATE"
    assert google.peer.objects[object_id(google)]["loyaltyPoints"]["balance"] == {"string": "1/5"}
    assert google.peer.notices == {object_id(google): 1}


async def test_the_fourth_notice_in_a_day_goes_out_silent_and_the_budget_is_back_a_day_later(
    client: httpx.AsyncClient, card: Tenant, worker: Worker, clock: FixedClock, google: DevGoogle
) -> None:
    await hand_out_save_link(client, card)
    await drain(worker, clock)
    before = len(patch_bodies(google))

    for _ in range(4):
        await stamp(client, card)
        await drain(worker, clock)

    bodies = patch_bodies(google, before)
    assert [body["loyaltyPoints"]["balance"]["string"] for body in bodies] == ["1/5", "2/5", "3/5", "4/5"]
    assert [body.get("notifyPreference") for body in bodies] == ["NOTIFY_ON_UPDATE"] * 3 + [None]

    clock.advance(timedelta(hours=24))
    classes, objects = google.peer.classes, google.peer.objects
    google.peer.reset()  # Google's own count starts again too; what it holds stays
    for resource in classes.values():
        google.peer.put_class(resource)
    for resource in objects.values():
        google.peer.put_object(resource)
    await stamp(client, card)
    await drain(worker, clock)
    # The fifth stamp fills the card: its notice is the reward's message, which the budget allows again.
    [message] = [request.body["message"] for request in calls(google, "POST", OBJECTS) if "addMessage" in request.path]
    assert message["messageType"] == "TEXT_AND_NOTIFY"


async def test_a_reward_that_becomes_ready_is_a_message_that_notifies_within_the_budget(
    client: httpx.AsyncClient, database: Database, settings: Settings, worker: Worker, clock: FixedClock,
    google: DevGoogle,
) -> None:  # fmt: skip
    two = await make_tenant(
        database, settings, clock, slug="cafe-two", program_type="stamps", stamps_target=2, cooldown_minutes=0,
        max_daily_stamps=100, stamps_reward_description="A free coffee",
    )  # fmt: skip
    await hand_out_save_link(client, two)
    await drain(worker, clock)
    for _ in range(2):
        await stamp(client, two)
        await drain(worker, clock)

    [message] = [request.body["message"] for request in calls(google, "POST", OBJECTS) if "addMessage" in request.path]
    assert message["messageType"] == "TEXT_AND_NOTIFY"
    assert "A free coffee" in message["body"]
    last_patch = patch_bodies(google)[-1]
    assert "notifyPreference" not in last_patch  # one notice for the reward: the message's
    assert google.peer.notices == {object_id(google): 2}


async def test_a_reward_past_the_budget_is_a_silent_message(
    client: httpx.AsyncClient, card: Tenant, worker: Worker, clock: FixedClock, google: DevGoogle
) -> None:
    await hand_out_save_link(client, card)
    await drain(worker, clock)
    for _ in range(5):  # three notices, one silent update, then the reward
        await stamp(client, card)
        await drain(worker, clock)

    [message] = [request.body["message"] for request in calls(google, "POST", OBJECTS) if "addMessage" in request.path]
    assert message["messageType"] == "TEXT"
    assert google.peer.notices == {object_id(google): 3}


async def test_a_404_on_patch_inserts_and_a_409_on_that_insert_patches_the_whole_object(
    client: httpx.AsyncClient, card: Tenant, worker: Worker, clock: FixedClock, google: DevGoogle
) -> None:
    await hand_out_save_link(client, card)
    await drain(worker, clock)
    before = len(google.peer.requests)
    google.peer.script("PATCH", f"{OBJECTS}/*", 404)  # Google lost track of it, then finds it on insert

    await stamp(client, card)
    await drain(worker, clock)

    sequence = [(request.method, request.status) for request in google.peer.requests[before:]]
    assert sequence == [("PATCH", 404), ("POST", 409), ("PATCH", 200)]
    wallet = (await client.get(f"{VENDOR}/cards/{card.card_id}/wallet", headers=card.headers)).json()
    assert wallet["google"]["notifications_24h"] == 0  # the notifying PATCH failed: nobody was told
    whole = google.peer.requests[-1].body
    assert {"classId", "state", "accountId", "barcode", "heroImage", "loyaltyPoints"} <= set(whole)
    assert [row.status for row in await outbox_rows(worker.database)][-1] == OutboxStatus.SENT


@pytest.mark.parametrize("status", [401, 403])
async def test_401_and_403_park_the_row_for_the_admin(
    client: httpx.AsyncClient, card: Tenant, worker: Worker, clock: FixedClock, google: DevGoogle, status: int,
    admin_key: str,
) -> None:  # fmt: skip
    await hand_out_save_link(client, card)
    await drain(worker, clock)
    google.peer.script("PATCH", f"{OBJECTS}/*", status, times=2)  # a 401 gets one more try with a new token

    await stamp(client, card)
    await drain(worker, clock)

    parked = await client.get(
        "/api/v1/admin/loyalty/wallet/outbox",
        params={"status": "parked"},
        headers={"Authorization": f"Bearer {admin_key}"},
    )
    [row] = parked.json()["items"]
    assert (row["card_id"], row["provider"], row["attempts"]) == (card.card_id, "google", 1)
    assert row["last_error"].startswith(f"Google Wallet configuration error: {status}")


async def test_a_server_error_or_429_is_retried_after_a_back_off(
    client: httpx.AsyncClient, card: Tenant, worker: Worker, clock: FixedClock, google: DevGoogle
) -> None:
    await hand_out_save_link(client, card)
    await drain(worker, clock)
    google.peer.script("PATCH", f"{OBJECTS}/*", 503)
    google.peer.script("PATCH", f"{OBJECTS}/*", 429)

    await stamp(client, card)
    await drain(worker, clock)
    [row] = [row for row in await outbox_rows(worker.database) if row.status == OutboxStatus.PENDING]
    assert row.attempts == 1 and row.last_error is not None and "503" in row.last_error

    clock.advance(timedelta(minutes=2))
    await drain(worker, clock)
    clock.advance(timedelta(minutes=2))
    await drain(worker, clock)

    assert google.peer.objects[object_id(google)]["loyaltyPoints"]["balance"] == {"string": "1/5"}
    assert all(row.status == OutboxStatus.SENT for row in await outbox_rows(worker.database))


async def test_an_erased_customers_object_becomes_inactive_and_loses_the_personal_data(
    client: httpx.AsyncClient, card: Tenant, worker: Worker, clock: FixedClock, google: DevGoogle
) -> None:
    await hand_out_save_link(client, card)
    await drain(worker, clock)
    customer = (await client.get(f"{VENDOR}/cards/{card.card_id}", headers=card.headers)).json()["customer"]["id"]
    erased = await client.post(f"{VENDOR}/customers/{customer}/erase", headers=card.headers)
    assert erased.status_code == 204, erased.text

    await drain(worker, clock)

    body = patch_bodies(google)[-1]
    assert body["state"] == "INACTIVE"
    assert body["accountName"] is None and body["accountId"] is None and body["barcode"] is None
    stored = google.peer.objects[object_id(google)]
    assert {"accountName", "accountId", "barcode", "linksModuleData"}.isdisjoint(stored)
    assert card.qr_code not in str(stored) and card.card_token not in str(stored)


async def test_the_vendor_sees_the_cards_google_object_and_the_programmes_count(
    client: httpx.AsyncClient, card: Tenant, worker: Worker, clock: FixedClock, google: DevGoogle
) -> None:
    before = (await client.get(f"{VENDOR}/cards/{card.card_id}/wallet", headers=card.headers)).json()
    assert before["google"] is None
    await hand_out_save_link(client, card)
    await drain(worker, clock)
    await stamp(client, card)
    await drain(worker, clock)

    wallet = (await client.get(f"{VENDOR}/cards/{card.card_id}/wallet", headers=card.headers)).json()
    stats = (await client.get(f"{VENDOR}/wallet/stats", headers=card.headers)).json()

    assert wallet["google"]["object_id"] == object_id(google)
    assert wallet["google"]["state"] == "ACTIVE" and wallet["google"]["notifications_24h"] == 1
    assert wallet["google"]["last_sync_at"] is not None
    assert stats["google_objects"] == 1


async def test_an_eleventh_message_first_drops_our_oldest(
    client: httpx.AsyncClient, card: Tenant, worker: Worker, clock: FixedClock, google: DevGoogle, database: Database
) -> None:
    await hand_out_save_link(client, card)
    await drain(worker, clock)
    old = [
        {"id": f"old-{n}", "header": "Earlier", "body": "An earlier reward", "messageType": "TEXT"} for n in range(10)
    ]
    async with database.unit_of_work() as session:  # ten rewards ago, as Google holds them
        await session.execute(
            update(GoogleWalletObject).where(GoogleWalletObject.card_id == card.card_id).values(messages=old)
        )
    google.peer.put_object({**google.peer.objects[object_id(google)], "messages": old})
    before = len(google.peer.requests)

    for _ in range(5):
        await stamp(client, card)
        await drain(worker, clock)

    trimmed = [request.body for request in google.peer.requests[before:] if request.body and "messages" in request.body]
    assert [[message["id"] for message in body["messages"]] for body in trimmed] == [[f"old-{n}" for n in range(1, 10)]]
    assert {message["messageType"] for message in trimmed[0]["messages"]} == {"TEXT"}
    held = google.peer.objects[object_id(google)]["messages"]
    assert len(held) == 10 and held[0]["id"] == "old-1" and held[-1]["header"] == "Your reward is ready!"


async def test_erasing_the_holder_of_a_card_already_deactivated_still_clears_the_object(
    client: httpx.AsyncClient, card: Tenant, worker: Worker, clock: FixedClock, google: DevGoogle
) -> None:
    await hand_out_save_link(client, card)
    await drain(worker, clock)
    deactivated = await client.post(f"{VENDOR}/cards/{card.card_id}/deactivate", headers=card.headers)
    assert deactivated.status_code == 200
    await drain(worker, clock)
    assert google.peer.objects[object_id(google)]["state"] == "INACTIVE"
    assert "accountName" in google.peer.objects[object_id(google)]  # deactivated, not erased: still the holder's

    customer = (await client.get(f"{VENDOR}/cards/{card.card_id}", headers=card.headers)).json()["customer"]["id"]
    assert (await client.post(f"{VENDOR}/customers/{customer}/erase", headers=card.headers)).status_code == 204
    await drain(worker, clock)

    stored = google.peer.objects[object_id(google)]
    assert {"accountName", "accountId", "barcode", "linksModuleData"}.isdisjoint(stored)


async def test_a_vendor_renamed_by_the_admin_renames_the_class(
    client: httpx.AsyncClient, card: Tenant, worker: Worker, clock: FixedClock, google: DevGoogle, admin_key: str
) -> None:
    await drain(worker, clock)

    renamed = await client.patch(
        f"/api/v1/admin/loyalty/vendors/{card.vendor_id}",
        json={"name": "Café Renamed"},
        headers={"Authorization": f"Bearer {admin_key}"},
    )
    assert renamed.status_code == 200, renamed.text
    await drain(worker, clock)

    [patch] = calls(google, "PATCH", CLASSES)
    assert patch.body["issuerName"] == "Café Renamed"
    assert google.peer.classes[f"{DEV_GOOGLE_ISSUER_ID}.p{card.program_id}"]["issuerName"] == "Café Renamed"


async def test_a_change_waits_while_its_cards_previous_write_is_in_flight(
    client: httpx.AsyncClient, card: Tenant, worker: Worker, clock: FixedClock, google: DevGoogle,
    database: Database, settings: Settings,
) -> None:  # fmt: skip
    """Two workers writing one object at once could land the older write last (found by review: an erasure
    undone at Google). A worker holds the card's row; the next change's row waits for it."""
    await hand_out_save_link(client, card)
    await drain(worker, clock)
    await stamp(client, card)
    clock.advance(timedelta(seconds=3))
    async with database.unit_of_work() as session:
        [held] = await outbox.claim_due(Context(session, settings, clock), 10)  # another worker's, in flight
    await stamp(client, card)
    clock.advance(timedelta(seconds=3))

    assert await worker.run_once() == 0

    async with database.unit_of_work() as session:
        await outbox.sent(Context(session, settings, clock), held, None)
    assert await worker.run_once() == 1
    assert google.peer.objects[object_id(google)]["loyaltyPoints"]["balance"] == {"string": "2/5"}


async def test_quota_exceeded_on_a_notice_sends_the_update_silently_and_spends_the_day(
    client: httpx.AsyncClient, card: Tenant, worker: Worker, clock: FixedClock, google: DevGoogle
) -> None:
    """Google counts notices we never asked for (another sender, the holder's own saves): its QuotaExceeded
    to a notifying PATCH means the same PATCH, silent, and no notice asked for until a day has passed."""
    await hand_out_save_link(client, card)
    await drain(worker, clock)
    google.peer.script("PATCH", f"{OBJECTS}/*", 429, body={"error": {"code": 429, "message": "QuotaExceeded",
                                                                    "status": "RESOURCE_EXHAUSTED"}})  # fmt: skip
    before = len(patch_bodies(google))

    await stamp(client, card)
    await drain(worker, clock)
    await stamp(client, card)
    await drain(worker, clock)

    bodies = patch_bodies(google, before)
    assert [body.get("notifyPreference") for body in bodies] == ["NOTIFY_ON_UPDATE", None, None]
    assert google.peer.objects[object_id(google)]["loyaltyPoints"]["balance"] == {"string": "2/5"}
    assert all(row.status == OutboxStatus.SENT for row in await outbox_rows(worker.database))


async def test_a_401_gets_one_new_token_and_the_write_goes_through(
    client: httpx.AsyncClient, card: Tenant, worker: Worker, clock: FixedClock, google: DevGoogle
) -> None:
    await hand_out_save_link(client, card)
    await drain(worker, clock)
    google.peer.expire_tokens()  # Google forgets the token google-auth still holds for valid
    tokens_before = len([request for request in google.peer.requests if request.method_id == "token"])

    await stamp(client, card)
    await drain(worker, clock)

    assert len([request for request in google.peer.requests if request.method_id == "token"]) == tokens_before + 1
    assert google.peer.objects[object_id(google)]["loyaltyPoints"]["balance"] == {"string": "1/5"}
    assert all(row.status == OutboxStatus.SENT for row in await outbox_rows(worker.database))


async def test_a_token_endpoint_answering_nonsense_is_retried_not_fatal(
    client: httpx.AsyncClient, card: Tenant, worker: Worker, clock: FixedClock, google: DevGoogle
) -> None:
    await hand_out_save_link(client, card)
    await drain(worker, clock)
    google.peer.expire_tokens()
    google.peer.script("POST", "/token", 200, body={"access_token": "x", "expires_in": "3600s"})

    await stamp(client, card)
    await drain(worker, clock)

    [row] = [row for row in await outbox_rows(worker.database) if row.status == OutboxStatus.PENDING]
    assert row.attempts == 1 and row.last_error is not None and "token endpoint" in row.last_error
    clock.advance(timedelta(minutes=2))
    await drain(worker, clock)  # the endpoint answers properly again
    assert google.peer.objects[object_id(google)]["loyaltyPoints"]["balance"] == {"string": "1/5"}


async def test_fields_a_card_no_longer_has_are_cleared(
    client: httpx.AsyncClient, database: Database, settings: Settings, worker: Worker, clock: FixedClock,
    google: DevGoogle,
) -> None:  # fmt: skip
    hybrid = await make_tenant(database, settings, clock, slug="cafe-hybrid", program_type="hybrid")
    await hand_out_save_link(client, hybrid)
    await drain(worker, clock)
    assert {"secondaryLoyaltyPoints", "heroImage"} <= set(google.peer.objects[object_id(google)])

    changed = await client.patch(f"{VENDOR}/program", json={"program_type": "points"}, headers=hybrid.headers)
    assert changed.status_code == 200, changed.text
    await drain(worker, clock)

    held = google.peer.objects[object_id(google)]
    assert {"secondaryLoyaltyPoints", "heroImage"}.isdisjoint(held)
    assert held["loyaltyPoints"]["label"] == "Points"


async def test_an_erasure_leaves_nothing_of_the_holder_in_our_record_even_while_google_refuses(
    client: httpx.AsyncClient, card: Tenant, worker: Worker, clock: FixedClock, google: DevGoogle,
    database: Database,
) -> None:  # fmt: skip
    await hand_out_save_link(client, card)
    await drain(worker, clock)
    google.peer.script("PATCH", f"{OBJECTS}/*", 403)
    customer = (await client.get(f"{VENDOR}/cards/{card.card_id}", headers=card.headers)).json()["customer"]["id"]
    assert (await client.post(f"{VENDOR}/customers/{customer}/erase", headers=card.headers)).status_code == 204

    await drain(worker, clock)

    async with database.unit_of_work() as session:
        record = await session.scalar(
            select(GoogleWalletObject.synced_fields).where(GoogleWalletObject.card_id == card.card_id)
        )
    assert record is not None
    assert card.qr_code not in str(record) and card.card_token not in str(record) and "Customer" not in str(record)
    assert [row.status for row in await outbox_rows(worker.database)][-1] == OutboxStatus.PARKED
