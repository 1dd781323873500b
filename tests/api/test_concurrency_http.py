"""Races through HTTP on PostgreSQL: simultaneous counter requests on one card can never pass the
cooldown or the daily limit together, nor overdraw a balance, and the card always equals its ledger."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from loyalty.app import create_app
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.models import LoyaltyCard, LoyaltyTransaction, WebSession
from tests.fixtures import DevGoogle, empty_tables, test_settings
from tests.tenants import Tenant, make_tenant

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

V = "/api/v1/vendor/loyalty"
RACERS = 25


@pytest.fixture
def pg_app(pg_settings: Settings, clock: FixedClock, pg_database: Database) -> FastAPI:
    return create_app(pg_settings, clock=clock, database=pg_database)


@pytest.fixture
async def pg_client(pg_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=pg_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=60) as http:
        yield http


async def open_counter(database: Database, settings: Settings, clock: FixedClock, **fields: Any) -> Tenant:
    return await make_tenant(database, settings, clock, slug="race-cafe", require_staff_pin=False, **fields)


async def race(client: httpx.AsyncClient, tenant: Tenant, path: str, **body: Any) -> list[httpx.Response]:
    payload = {"card_id": tenant.card_id, **body}
    return await asyncio.gather(
        *(client.post(f"{V}{path}", json=payload, headers=tenant.headers) for _ in range(RACERS))
    )


def outcomes(responses: list[httpx.Response]) -> Counter[tuple[int, str | None]]:
    return Counter(
        (response.status_code, None if response.status_code == 201 else response.json()["error_code"])
        for response in responses
    )


async def assert_card_equals_ledger(database: Database, card_id: int) -> LoyaltyCard:
    async with database.unit_of_work() as session:
        card = await session.get(LoyaltyCard, card_id)
        stamps, points, lowest_stamps, lowest_points = (
            await session.execute(
                select(
                    func.coalesce(func.sum(LoyaltyTransaction.stamps_delta), 0),
                    func.coalesce(func.sum(LoyaltyTransaction.points_delta), 0),
                    func.coalesce(func.min(LoyaltyTransaction.stamps_balance_after), 0),
                    func.coalesce(func.min(LoyaltyTransaction.points_balance_after), 0),
                ).where(LoyaltyTransaction.card_id == card_id)
            )
        ).one()
    assert card is not None
    assert card.stamp_count == stamps
    assert card.points_balance == points
    assert lowest_stamps >= 0 and lowest_points >= 0
    return card


async def ledger_count(database: Database, card_id: int, transaction_type: str) -> int:
    async with database.unit_of_work() as session:
        count = await session.scalar(
            select(func.count()).where(
                LoyaltyTransaction.card_id == card_id, LoyaltyTransaction.transaction_type == transaction_type
            )
        )
    return count or 0


async def test_simultaneous_stamps_respect_the_daily_limit(
    pg_client: httpx.AsyncClient, pg_database: Database, pg_settings: Settings, clock: FixedClock
) -> None:
    tenant = await open_counter(pg_database, pg_settings, clock, cooldown_minutes=0, max_daily_stamps=5)

    responses = await race(pg_client, tenant, "/stamp")

    assert outcomes(responses) == {(201, None): 5, (429, "DAILY_STAMP_LIMIT"): RACERS - 5}
    assert sorted(r.json()["stamps_today"] for r in responses if r.status_code == 201) == [1, 2, 3, 4, 5]
    assert all("Retry-After" in r.headers for r in responses if r.status_code == 429)
    card = await assert_card_equals_ledger(pg_database, tenant.card_id)
    assert (card.stamp_count, card.total_stamps_earned) == (5, 5)
    assert await ledger_count(pg_database, tenant.card_id, "stamp_earned") == 5


async def test_simultaneous_stamps_respect_the_cooldown(
    pg_client: httpx.AsyncClient, pg_database: Database, pg_settings: Settings, clock: FixedClock
) -> None:
    tenant = await open_counter(pg_database, pg_settings, clock, cooldown_minutes=15, max_daily_stamps=5)

    responses = await race(pg_client, tenant, "/stamp")

    assert outcomes(responses) == {(201, None): 1, (429, "STAMP_COOLDOWN"): RACERS - 1}
    assert {r.headers["Retry-After"] for r in responses if r.status_code == 429} == {"900"}
    card = await assert_card_equals_ledger(pg_database, tenant.card_id)
    assert card.stamp_count == 1


async def test_simultaneous_stamp_redemptions_never_overdraw(
    pg_client: httpx.AsyncClient, pg_database: Database, pg_settings: Settings, clock: FixedClock
) -> None:
    tenant = await open_counter(pg_database, pg_settings, clock, cooldown_minutes=0, max_daily_stamps=20)
    for _ in range(9):  # stamps_target 3: enough for three rewards
        stamped = await pg_client.post(f"{V}/stamp", json={"card_id": tenant.card_id}, headers=tenant.headers)
        assert stamped.status_code == 201, stamped.text

    responses = await race(pg_client, tenant, "/stamp/redeem")

    assert outcomes(responses) == {(201, None): 3, (400, "INSUFFICIENT_STAMPS"): RACERS - 3}
    assert sorted(r.json()["total_redemptions"] for r in responses if r.status_code == 201) == [1, 2, 3]
    card = await assert_card_equals_ledger(pg_database, tenant.card_id)
    assert (card.stamp_count, card.stamps_redeemed) == (0, 3)


async def test_simultaneous_points_redemptions_never_overdraw(
    pg_client: httpx.AsyncClient, pg_database: Database, pg_settings: Settings, clock: FixedClock
) -> None:
    tenant = await open_counter(
        pg_database, pg_settings, clock, points_rewards=[{"id": 1, "name": "Croissant", "points_required": 10}]
    )
    earned = await pg_client.post(
        f"{V}/points/earn", json={"card_id": tenant.card_id, "purchase_amount_cents": 3500}, headers=tenant.headers
    )
    assert earned.json()["points_balance"] == 35

    responses = await race(pg_client, tenant, "/points/redeem", reward_id=1)

    assert outcomes(responses) == {(201, None): 3, (400, "INSUFFICIENT_POINTS"): RACERS - 3}
    assert sorted(r.json()["points_balance"] for r in responses if r.status_code == 201) == [5, 15, 25]
    card = await assert_card_equals_ledger(pg_database, tenant.card_id)
    assert (card.points_balance, card.total_points_redeemed) == (5, 30)


async def test_simultaneous_earns_all_count(
    pg_client: httpx.AsyncClient, pg_database: Database, pg_settings: Settings, clock: FixedClock
) -> None:
    tenant = await open_counter(pg_database, pg_settings, clock)

    responses = await race(pg_client, tenant, "/points/earn", purchase_amount_cents=199)

    assert outcomes(responses) == {(201, None): RACERS}
    card = await assert_card_equals_ledger(pg_database, tenant.card_id)
    assert card.points_balance == RACERS * 1


async def test_simultaneous_voids_of_one_entry_void_it_once(
    pg_client: httpx.AsyncClient, pg_database: Database, pg_settings: Settings, clock: FixedClock
) -> None:
    tenant = await open_counter(pg_database, pg_settings, clock)
    earned = await pg_client.post(
        f"{V}/points/earn", json={"card_id": tenant.card_id, "purchase_amount_cents": 1000}, headers=tenant.headers
    )
    transaction_id = earned.json()["transaction_id"]

    responses = await asyncio.gather(
        *(
            pg_client.post(f"{V}/transactions/{transaction_id}/void", json={"reason": "race"}, headers=tenant.headers)
            for _ in range(10)
        )
    )

    assert outcomes(responses) == {(201, None): 1, (400, "TRANSACTION_NOT_VOIDABLE"): 9}
    assert {r.json()["details"]["reason"] for r in responses if r.status_code == 400} == {"already_voided"}
    card = await assert_card_equals_ledger(pg_database, tenant.card_id)
    assert card.points_balance == 0


async def test_mixed_race_keeps_the_card_equal_to_its_ledger(
    pg_client: httpx.AsyncClient, pg_database: Database, pg_settings: Settings, clock: FixedClock
) -> None:
    tenant = await open_counter(
        pg_database, pg_settings, clock, cooldown_minutes=0, max_daily_stamps=10,
        points_rewards=[{"id": 1, "name": "Cookie", "points_required": 3}],
    )  # fmt: skip
    card_body = {"card_id": tenant.card_id}
    requests = [
        *[("/stamp", card_body)] * 12,
        *[("/stamp/redeem", card_body)] * 6,
        *[("/points/earn", {**card_body, "purchase_amount_cents": 250})] * 10,
        *[("/points/redeem", {**card_body, "reward_id": 1})] * 10,
    ]

    responses = await asyncio.gather(
        *(pg_client.post(f"{V}{path}", json=body, headers=tenant.headers) for path, body in requests)
    )

    assert {r.status_code for r in responses} <= {201, 400, 429}, [r.text for r in responses if r.status_code >= 500]
    card = await assert_card_equals_ledger(pg_database, tenant.card_id)
    assert card.total_stamps_earned == 10  # the daily limit, whatever the interleaving
    assert card.total_points_earned == 20


async def test_programme_changes_racing_card_deactivations_never_deadlock(
    pg_database_url: str, dev_google: DevGoogle, clock: FixedClock
) -> None:
    """A programme change locks every card its wallets hold, then queues their updates; a deactivation
    writes its card, then queues its update. Taken in opposite orders, the two deadlocked (PostgreSQL
    aborts one: a 500). Ten cards held in Google Wallet, each deactivated while the programme changes."""
    settings = test_settings(pg_database_url, **dev_google.settings)
    database = Database.from_settings(settings)
    await empty_tables(database)
    tenant = await open_counter(database, settings, clock)
    app = create_app(settings, clock=clock, database=database)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://test", timeout=60
    ) as client:
        cards, tokens = [tenant.card_id], [tenant.card_token]
        for number in range(9):
            enrolled = await client.post(
                "/api/v1/loyalty/programs/race-cafe/enroll", json={"email": f"racer{number}@example.com"}
            )
            found = await client.get(
                f"{V}/cards/lookup", params={"card_number": enrolled.json()["card_number"]}, headers=tenant.headers
            )
            cards.append(found.json()["id"])
            tokens.append(enrolled.json()["card_token"])
        for token in tokens:  # each card's save link handed out: a wallet holds it
            assert (await client.get(f"/api/v1/loyalty/cards/{token}/google-wallet")).status_code == 200

        answers: list[httpx.Response] = []
        for round in range(6):  # off, on, off, …: each round changes every card and the programme
            action = "deactivate" if round % 2 == 0 else "reactivate"
            answers += await asyncio.gather(
                *(client.post(f"{V}/cards/{card_id}/{action}", headers=tenant.headers) for card_id in cards),
                *(
                    client.patch(f"{V}/program", json={"card_name": f"Card {round}.{n}"}, headers=tenant.headers)
                    for n in range(4)
                ),
            )
    await database.dispose()

    assert Counter(answer.status_code for answer in answers) == {200: len(answers)}


async def form_token(client: httpx.AsyncClient) -> str:
    """The pairing page's form token (its cookie stays in the client)."""
    page = await client.get("/terminal/pair")
    match = re.search(r'name="csrf_token" value="([\w-]+)"', page.text)
    assert match is not None
    return match.group(1)


async def test_one_pairing_code_pairs_one_browser(
    pg_client: httpx.AsyncClient, pg_database: Database, pg_settings: Settings, clock: FixedClock
) -> None:
    tenant = await open_counter(pg_database, pg_settings, clock)
    made = await pg_client.post(f"{V}/terminals", json={"name": "Counter"}, headers=tenant.headers)
    form = {"pairing_code": made.json()["pairing_code"], "csrf_token": await form_token(pg_client)}
    answers = await asyncio.gather(*(pg_client.post("/terminal/pair", data=form) for _ in range(RACERS)))
    statuses = Counter(answer.status_code for answer in answers)
    # One pairs; the others are wrong codes now, refused (400) until the address's allowance is spent (429).
    assert statuses[303] == 1 and statuses[400] + statuses[429] == RACERS - 1
    async with pg_database.unit_of_work() as session:
        live = await session.scalar(select(func.count()).select_from(WebSession).where(WebSession.revoked_at.is_(None)))
    assert live == 1


async def test_simultaneous_wrong_pairing_codes_stay_within_the_limit(
    pg_client: httpx.AsyncClient, pg_database: Database, pg_settings: Settings, clock: FixedClock
) -> None:
    await open_counter(pg_database, pg_settings, clock)
    form = {"pairing_code": "12345678", "csrf_token": await form_token(pg_client)}
    answers = await asyncio.gather(*(pg_client.post("/terminal/pair", data=form) for _ in range(RACERS)))
    limit = pg_settings.pairing_attempt_limit
    assert Counter(answer.status_code for answer in answers) == {400: limit, 429: RACERS - limit}
