"""POST /stamp and /stamp/redeem: the stamp card at the counter, with every anti-fraud rule."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from loyalty import errors, i18n
from loyalty.api.schemas import operations
from loyalty.app import create_app
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.services import api_keys, cards, programs
from loyalty.services.context import Actor, Context
from tests.api.helpers import assert_error, bearer, count_round_trips
from tests.fixtures import START
from tests.services.helpers import card as card_row
from tests.services.helpers import ledger
from tests.tenants import Tenant, make_tenant

pytestmark = pytest.mark.anyio

V = "/api/v1/vendor/loyalty"
COOLDOWN = timedelta(minutes=15)


async def stamp(client: httpx.AsyncClient, tenant: Tenant, **body: Any) -> httpx.Response:
    payload: dict[str, Any] = {"card_id": tenant.card_id, "staff_pin": tenant.pin}
    payload.update(body)
    headers = {**tenant.headers, **payload.pop("headers", {})}
    return await client.post(f"{V}/stamp", json={k: v for k, v in payload.items() if v is not None}, headers=headers)


async def redeem(client: httpx.AsyncClient, tenant: Tenant, **body: Any) -> httpx.Response:
    payload: dict[str, Any] = {"card_id": tenant.card_id, "staff_pin": tenant.pin}
    payload.update(body)
    headers = {**tenant.headers, **payload.pop("headers", {})}
    return await client.post(
        f"{V}/stamp/redeem", json={k: v for k, v in payload.items() if v is not None}, headers=headers
    )


async def stamps_in_a_row(client: httpx.AsyncClient, tenant: Tenant, clock: FixedClock, count: int) -> None:
    for _ in range(count):
        assert (await stamp(client, tenant)).status_code == 201
        clock.advance(COOLDOWN)


def vendor_ctx(session: AsyncSession, settings: Settings, clock: FixedClock, tenant: Tenant) -> Context:
    return Context(session, settings, clock, Actor(vendor_id=tenant.vendor_id))


# --- success ---------------------------------------------------------------------------------------


async def test_stamp_answers_the_new_state(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await stamp(client, tenant)

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["card_id"] == tenant.card_id
    assert body["card_number"] == tenant.card_number
    assert body["stamp_count"] == 1
    assert body["stamps_target"] == 3
    assert body["stamps_until_reward"] == 2
    assert body["reward_earned"] is False
    assert datetime.fromisoformat(body["next_stamp_available_at"]) == START + COOLDOWN
    assert body["stamps_today"] == 1
    assert body["stamps_remaining_today"] == 4
    assert body["message"] == "Stamp added: 1 of 3 stamps"
    assert isinstance(body["transaction_id"], int)


@pytest.mark.parametrize("reference", ["card_id", "qr_code", "card_number"])
async def test_every_card_reference_finds_the_card(client: httpx.AsyncClient, tenant: Tenant, reference: str) -> None:
    value = getattr(tenant, reference)
    body = {"card_id": None, reference: value}

    response = await stamp(client, tenant, **body)

    assert response.status_code == 201, response.text
    assert response.json()["card_id"] == tenant.card_id


async def test_typed_card_number_with_spaces_is_accepted(client: httpx.AsyncClient, tenant: Tenant) -> None:
    spaced = " ".join(tenant.card_number[i : i + 4] for i in range(0, len(tenant.card_number), 4))

    response = await stamp(client, tenant, card_id=None, card_number=spaced)

    assert response.status_code == 201, response.text
    assert (response.json()["card_id"], response.json()["stamp_count"]) == (tenant.card_id, 1)


async def test_reaching_the_target_earns_the_reward(
    client: httpx.AsyncClient, database: Database, settings: Settings, clock: FixedClock
) -> None:
    tenant = await make_tenant(database, settings, clock, slug="reward-cafe", stamps_reward_description="A free coffee")
    await stamps_in_a_row(client, tenant, clock, 2)

    body = (await stamp(client, tenant)).json()

    assert body["stamp_count"] == 3
    assert body["reward_earned"] is True
    assert body["stamps_until_reward"] == 0
    assert body["reward_description"] == "A free coffee"
    assert body["message"] == "Reward earned: A free coffee!"


async def test_reward_without_description_has_a_plain_message(
    client: httpx.AsyncClient, tenant: Tenant, clock: FixedClock
) -> None:
    await stamps_in_a_row(client, tenant, clock, 2)

    body = (await stamp(client, tenant)).json()

    assert body["reward_earned"] is True
    assert body["reward_description"] is None
    assert body["message"] == "Reward earned!"


async def test_no_cooldown_means_no_next_stamp_time(
    client: httpx.AsyncClient, database: Database, settings: Settings, clock: FixedClock
) -> None:
    tenant = await make_tenant(database, settings, clock, slug="no-wait", cooldown_minutes=0)

    body = (await stamp(client, tenant)).json()

    assert body["next_stamp_available_at"] is None


async def test_ledger_row_records_pin_ip_user_agent_and_notes(
    client: httpx.AsyncClient, tenant: Tenant, database: Database
) -> None:
    response = await stamp(
        client, tenant, staff_pin_id=tenant.pin_id, notes="window seat", headers={"User-Agent": "POS-Terminal/2.1"}
    )
    assert response.status_code == 201

    [entry] = await ledger(database, tenant.card_id)
    assert entry.id == response.json()["transaction_id"]
    assert entry.transaction_type == "stamp_earned"
    assert entry.stamps_delta == 1
    assert entry.staff_pin_id == tenant.pin_id
    assert entry.client_ip == "127.0.0.1"
    assert entry.user_agent == "POS-Terminal/2.1"
    assert entry.notes == "window seat"
    card = await card_row(database, tenant.card_id)
    assert (card.stamp_count, card.total_stamps_earned) == (1, 1)


async def test_pin_is_found_without_staff_pin_id(client: httpx.AsyncClient, tenant: Tenant, database: Database) -> None:
    assert (await stamp(client, tenant)).status_code == 201

    [entry] = await ledger(database, tenant.card_id)
    assert entry.staff_pin_id == tenant.pin_id


async def test_programme_without_pin_requirement_stamps_without_pin(
    client: httpx.AsyncClient, database: Database, settings: Settings, clock: FixedClock
) -> None:
    tenant = await make_tenant(database, settings, clock, slug="open-counter", require_staff_pin=False)

    response = await stamp(client, tenant, staff_pin=None)

    assert response.status_code == 201, response.text
    [entry] = await ledger(database, tenant.card_id)
    assert entry.staff_pin_id is None


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # deferred constraint triggers
async def test_a_stamp_whose_commit_fails_is_answered_500_and_writes_nothing(
    client: httpx.AsyncClient, tenant: Tenant, database: Database
) -> None:
    """The request's unit of work commits before the answer is sent: when COMMIT itself fails (here a
    deferred constraint trigger refuses the ledger row at commit time), the counter never sees 201."""
    async with database.engine.begin() as connection:
        await connection.execute(
            text(
                "CREATE FUNCTION refuse_at_commit() RETURNS trigger LANGUAGE plpgsql"
                " AS $$ BEGIN RAISE EXCEPTION 'refused at commit'; END $$"
            )
        )
        await connection.execute(
            text(
                "CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT ON loyalty_transactions"
                " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_at_commit()"
            )
        )
    try:
        response = await stamp(client, tenant)
    finally:
        async with database.engine.begin() as connection:
            await connection.execute(text("DROP TRIGGER refuse_at_commit ON loyalty_transactions"))
            await connection.execute(text("DROP FUNCTION refuse_at_commit()"))

    assert_error(response, 500, "INTERNAL_ERROR")
    assert (await card_row(database, tenant.card_id)).stamp_count == 0
    assert await ledger(database, tenant.card_id) == []
    assert (await stamp(client, tenant)).status_code == 201  # the connection went back to the pool usable


# --- cooldown and daily limit --------------------------------------------------------------------


async def test_cooldown_answers_429_with_retry_after(
    client: httpx.AsyncClient, tenant: Tenant, clock: FixedClock
) -> None:
    assert (await stamp(client, tenant)).status_code == 201
    clock.advance(timedelta(minutes=10))

    response = await stamp(client, tenant)

    details = assert_error(response, 429, "STAMP_COOLDOWN")
    assert details["cooldown_minutes"] == 15
    assert datetime.fromisoformat(details["cooldown_ends"]) == START + COOLDOWN
    assert response.headers["Retry-After"] == "300"
    assert response.json()["message"] == "Please wait 15 minutes between stamps"


async def test_cooldown_ends_exactly_on_time(client: httpx.AsyncClient, tenant: Tenant, clock: FixedClock) -> None:
    assert (await stamp(client, tenant)).status_code == 201
    clock.advance(COOLDOWN - timedelta(seconds=1))
    response = await stamp(client, tenant)
    assert_error(response, 429, "STAMP_COOLDOWN")
    assert response.headers["Retry-After"] == "1"

    clock.advance(timedelta(seconds=1))
    assert (await stamp(client, tenant)).status_code == 201


async def test_failed_stamp_changes_nothing(
    client: httpx.AsyncClient, tenant: Tenant, clock: FixedClock, database: Database
) -> None:
    assert (await stamp(client, tenant)).status_code == 201
    assert (await stamp(client, tenant)).status_code == 429

    assert len(await ledger(database, tenant.card_id)) == 1
    assert (await card_row(database, tenant.card_id)).stamp_count == 1


async def daily_tenant(database: Database, settings: Settings, clock: FixedClock) -> Tenant:
    return await make_tenant(
        database, settings, clock, slug="busy-bar", cooldown_minutes=0, max_daily_stamps=5, require_staff_pin=False
    )


async def test_daily_limit_answers_429_until_local_midnight(
    client: httpx.AsyncClient, database: Database, settings: Settings, clock: FixedClock
) -> None:
    tenant = await daily_tenant(database, settings, clock)
    remaining = []
    for _ in range(5):
        response = await stamp(client, tenant, staff_pin=None)
        assert response.status_code == 201, response.text
        remaining.append(response.json()["stamps_remaining_today"])
    assert remaining == [4, 3, 2, 1, 0]

    response = await stamp(client, tenant, staff_pin=None)

    details = assert_error(response, 429, "DAILY_STAMP_LIMIT")
    assert details["max_daily_stamps"] == 5
    assert details["stamps_today"] == 5
    # 10:00 in Luxembourg (UTC+1 in November): local midnight is 23:00 UTC, 14 hours away.
    assert response.headers["Retry-After"] == str(14 * 3600)


async def test_daily_limit_resets_at_local_not_utc_midnight(
    client: httpx.AsyncClient, database: Database, settings: Settings, clock: FixedClock
) -> None:
    tenant = await daily_tenant(database, settings, clock)
    clock.current = datetime(2026, 11, 21, 22, 30, tzinfo=UTC)  # 23:30 in Luxembourg
    for _ in range(5):
        assert (await stamp(client, tenant, staff_pin=None)).status_code == 201
    response = await stamp(client, tenant, staff_pin=None)
    assert_error(response, 429, "DAILY_STAMP_LIMIT")
    assert response.headers["Retry-After"] == str(30 * 60)

    clock.current = datetime(2026, 11, 21, 23, 0, tzinfo=UTC)  # local midnight, still 21 November in UTC
    response = await stamp(client, tenant, staff_pin=None)

    assert response.status_code == 201, response.text
    assert response.json()["stamps_today"] == 1


async def test_daily_limit_retry_after_follows_summer_time(
    client: httpx.AsyncClient, database: Database, settings: Settings, clock: FixedClock
) -> None:
    clock.current = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)  # 12:00 in Luxembourg (UTC+2)
    tenant = await daily_tenant(database, settings, clock)
    for _ in range(5):
        assert (await stamp(client, tenant, staff_pin=None)).status_code == 201

    response = await stamp(client, tenant, staff_pin=None)

    assert_error(response, 429, "DAILY_STAMP_LIMIT")
    assert response.headers["Retry-After"] == str(12 * 3600)


# --- staff PIN -------------------------------------------------------------------------------------


async def test_missing_pin_is_refused(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await stamp(client, tenant, staff_pin=None)

    assert_error(response, 403, "STAFF_PIN_REQUIRED")


async def test_wrong_pin_counts_down_then_locks_the_named_pin(
    client: httpx.AsyncClient, tenant: Tenant, clock: FixedClock
) -> None:
    remaining = []
    for _ in range(5):
        response = await stamp(client, tenant, staff_pin="0000", staff_pin_id=tenant.pin_id)
        remaining.append(assert_error(response, 403, "INVALID_STAFF_PIN")["remaining_attempts"])
    assert remaining == [4, 3, 2, 1, 0]

    response = await stamp(client, tenant, staff_pin=tenant.pin, staff_pin_id=tenant.pin_id)

    details = assert_error(response, 423, "STAFF_PIN_LOCKED")
    assert datetime.fromisoformat(details["locked_until"]) == START + timedelta(minutes=30)


async def test_a_failed_pin_is_counted_even_when_one_connection_serves_everything(
    tenant: Tenant, settings: Settings, clock: FixedClock
) -> None:
    """The failure is recorded in a transaction of its own once the request's rolls back, on the
    request's own connection: waiting for a second connection would deadlock a busy pool."""
    one_connection = Database.from_url(settings.database_url, pool_size=1, max_overflow=0)
    app = create_app(settings, clock=clock, database=one_connection)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=10) as client:
            first = await asyncio.wait_for(stamp(client, tenant, staff_pin="0000", staff_pin_id=tenant.pin_id), 10)
            second = await asyncio.wait_for(stamp(client, tenant, staff_pin="0000", staff_pin_id=tenant.pin_id), 10)
    finally:
        await one_connection.dispose()

    assert assert_error(first, 403, "INVALID_STAFF_PIN")["remaining_attempts"] == 4
    assert assert_error(second, 403, "INVALID_STAFF_PIN")["remaining_attempts"] == 3


async def test_wrong_pin_without_pin_id_locks_the_terminal(
    client: httpx.AsyncClient, tenant: Tenant, database: Database
) -> None:
    remaining = []
    for _ in range(5):
        response = await stamp(client, tenant, staff_pin="0000")
        remaining.append(assert_error(response, 403, "INVALID_STAFF_PIN")["remaining_attempts"])
    assert remaining == [4, 3, 2, 1, 0]

    locked = await stamp(client, tenant)  # even the right PIN

    details = assert_error(locked, 423, "STAFF_PIN_LOCKED")
    assert datetime.fromisoformat(details["locked_until"]) == START + timedelta(minutes=30)
    assert await ledger(database, tenant.card_id) == []


async def test_guessing_between_successes_of_a_known_pin_still_locks(
    client: httpx.AsyncClient, tenant: Tenant, database: Database, settings: Settings, clock: FixedClock
) -> None:
    """A peer system's fault: a terminal's count of wrong PINs was cleared by any PIN's success. Anna
    (4321) knows hers and guesses Boss's: four wrong, one right, again; the fifth wrong one locks."""
    async with database.unit_of_work() as session:
        ctx = vendor_ctx(session, settings, clock, tenant)
        await pins_create(ctx, "Anna", "4321")
        await pins_create(ctx, "Boss", "8765")

    async def earn(staff_pin: str) -> httpx.Response:  # earning has no cooldown between attempts
        body = {"card_id": tenant.card_id, "purchase_amount_cents": 100, "staff_pin": staff_pin}
        return await client.post(f"{V}/points/earn", json=body, headers=tenant.headers)

    first_round = [await earn(guess) for guess in ("1111", "2222", "3333", "4444")]
    anna = await earn("4321")
    fifth_wrong = await earn("5555")
    locked = await earn("4321")

    assert [r.json()["details"]["remaining_attempts"] for r in first_round] == [4, 3, 2, 1]
    assert anna.status_code == 201
    assert assert_error(fifth_wrong, 403, "INVALID_STAFF_PIN")["remaining_attempts"] == 0
    assert_error(locked, 423, "STAFF_PIN_LOCKED")


async def test_a_terminal_count_lapses_after_the_lockout_window(
    client: httpx.AsyncClient, tenant: Tenant, clock: FixedClock
) -> None:
    for _ in range(4):
        await stamp(client, tenant, staff_pin="0000")
    clock.advance(timedelta(minutes=31))  # LOYALTY_PIN_LOCKOUT_MINUTES is 30

    response = await stamp(client, tenant, staff_pin="0000")

    assert assert_error(response, 403, "INVALID_STAFF_PIN")["remaining_attempts"] == 4  # a new window


async def test_naming_another_pin_does_not_dodge_the_lock(
    client: httpx.AsyncClient, tenant: Tenant, database: Database, settings: Settings, clock: FixedClock
) -> None:
    async with database.unit_of_work() as session:
        ctx = vendor_ctx(session, settings, clock, tenant)
        second = await pins_create(ctx, "Second", "5678")
    for _ in range(5):
        await stamp(client, tenant, staff_pin="0000", staff_pin_id=tenant.pin_id)

    for staff_pin, staff_pin_id in (("0000", second), ("5678", second), ("5678", None)):
        response = await stamp(client, tenant, staff_pin=staff_pin, staff_pin_id=staff_pin_id)
        assert_error(response, 423, "STAFF_PIN_LOCKED")


async def test_locked_pin_stays_locked_from_another_terminal(
    client: httpx.AsyncClient, tenant: Tenant, database: Database, settings: Settings, clock: FixedClock
) -> None:
    for _ in range(5):
        await stamp(client, tenant, staff_pin="0000", staff_pin_id=tenant.pin_id)
    async with database.unit_of_work() as session:
        issued = await api_keys.create_vendor_key(
            vendor_ctx(session, settings, clock, tenant), tenant.vendor_id, "till 2"
        )
    other_terminal = {"headers": bearer(issued.secret)}

    for staff_pin_id in (tenant.pin_id, None):
        response = await stamp(client, tenant, staff_pin_id=staff_pin_id, **other_terminal)
        assert_error(response, 423, "STAFF_PIN_LOCKED")


async def test_lock_expires_after_the_lockout(client: httpx.AsyncClient, tenant: Tenant, clock: FixedClock) -> None:
    for _ in range(5):
        await stamp(client, tenant, staff_pin="0000")
    assert (await stamp(client, tenant)).status_code == 423

    clock.advance(timedelta(minutes=30))

    assert (await stamp(client, tenant)).status_code == 201


async def test_a_good_pin_does_not_reset_the_terminals_count(
    client: httpx.AsyncClient, tenant: Tenant, clock: FixedClock
) -> None:
    await stamp(client, tenant, staff_pin="0000")
    await stamp(client, tenant, staff_pin="0000")
    assert (await stamp(client, tenant)).status_code == 201
    clock.advance(COOLDOWN)

    response = await stamp(client, tenant, staff_pin="0000")

    assert assert_error(response, 403, "INVALID_STAFF_PIN")["remaining_attempts"] == 2  # the third in the window


async def test_unknown_staff_pin_id_is_an_invalid_pin(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await stamp(client, tenant, staff_pin_id=9999)

    assert_error(response, 403, "INVALID_STAFF_PIN")


async def test_pin_of_another_vendor_is_refused(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    response = await stamp(client, tenant, staff_pin=other_tenant.pin, staff_pin_id=other_tenant.pin_id)

    assert_error(response, 403, "INVALID_STAFF_PIN")


async def pins_create(ctx: Context, name: str, pin: str) -> int:
    from loyalty.services import pins

    program = await programs.get_program(ctx)
    return (await pins.create_pin(ctx, program, pins.NewPin(name=name, pin=pin))).id


# --- programme and card state --------------------------------------------------------------------


async def test_points_programme_does_not_stamp(
    client: httpx.AsyncClient, database: Database, settings: Settings, clock: FixedClock
) -> None:
    tenant = await make_tenant(database, settings, clock, slug="points-only", program_type="points")

    assert_error(await stamp(client, tenant), 400, "STAMPS_NOT_ENABLED")
    assert_error(await redeem(client, tenant), 400, "STAMPS_NOT_ENABLED")


async def test_inactive_programme_does_not_stamp(
    client: httpx.AsyncClient, tenant: Tenant, database: Database, settings: Settings, clock: FixedClock
) -> None:
    async with database.unit_of_work() as session:
        ctx = vendor_ctx(session, settings, clock, tenant)
        await programs.set_program_active(ctx, await programs.get_program(ctx), False)

    details = assert_error(await stamp(client, tenant), 400, "LOYALTY_PROGRAM_INACTIVE")
    assert details["program_id"] == tenant.program_id
    assert_error(await redeem(client, tenant), 400, "LOYALTY_PROGRAM_INACTIVE")


async def test_inactive_card_does_not_stamp(
    client: httpx.AsyncClient, tenant: Tenant, database: Database, settings: Settings, clock: FixedClock
) -> None:
    async with database.unit_of_work() as session:
        await cards.set_card_active(vendor_ctx(session, settings, clock, tenant), tenant.card_id, False)

    details = assert_error(await stamp(client, tenant), 400, "LOYALTY_CARD_INACTIVE")
    assert details["card_id"] == tenant.card_id
    assert_error(await redeem(client, tenant), 400, "LOYALTY_CARD_INACTIVE")


@pytest.mark.parametrize(
    "reference", [{"card_id": 999_999}, {"card_id": None, "qr_code": "nope"}, {"card_id": None, "card_number": "42"}]
)
async def test_unknown_card_is_404(client: httpx.AsyncClient, tenant: Tenant, reference: dict[str, Any]) -> None:
    assert_error(await stamp(client, tenant, **reference), 404, "LOYALTY_CARD_NOT_FOUND")


async def test_another_vendors_card_is_404(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, database: Database
) -> None:
    for reference in ({"card_id": other_tenant.card_id}, {"card_id": None, "qr_code": other_tenant.qr_code}):
        assert_error(await stamp(client, tenant, **reference), 404, "LOYALTY_CARD_NOT_FOUND")
        assert_error(await redeem(client, tenant, **reference), 404, "LOYALTY_CARD_NOT_FOUND")
    assert await ledger(database, other_tenant.card_id) == []


@pytest.mark.parametrize(
    "reference",
    [
        {"card_id": None},
        {"qr_code": "abc"},
        {"card_number": "4242"},
        {"card_id": None, "qr_code": "abc", "card_number": "4242"},
    ],
    ids=["none", "id+qr", "id+number", "qr+number"],
)
async def test_none_or_several_card_references_are_422(
    client: httpx.AsyncClient, tenant: Tenant, reference: dict[str, Any]
) -> None:
    for call in (stamp, redeem):
        details = assert_error(await call(client, tenant, **reference), 422, "VALIDATION_ERROR")
        assert details["errors"]


async def test_stamp_needs_a_vendor_key(client: httpx.AsyncClient, tenant: Tenant, admin_key: str) -> None:
    assert_error(await client.post(f"{V}/stamp", json={"card_id": tenant.card_id}), 401, "UNAUTHENTICATED")
    response = await client.post(f"{V}/stamp", json={"card_id": tenant.card_id}, headers=bearer(admin_key))
    assert_error(response, 403, "FORBIDDEN")


# --- redeem ----------------------------------------------------------------------------------------


async def test_redeem_without_enough_stamps(
    client: httpx.AsyncClient, tenant: Tenant, clock: FixedClock, database: Database
) -> None:
    await stamps_in_a_row(client, tenant, clock, 2)

    details = assert_error(await redeem(client, tenant), 400, "INSUFFICIENT_STAMPS")

    assert details == {"current_stamps": 2, "required_stamps": 3}
    assert (await card_row(database, tenant.card_id)).stamp_count == 2


async def test_redeem_gives_the_reward(
    client: httpx.AsyncClient, database: Database, settings: Settings, clock: FixedClock
) -> None:
    tenant = await make_tenant(database, settings, clock, slug="reward-bar", stamps_reward_description="A free beer")
    await stamps_in_a_row(client, tenant, clock, 4)

    response = await redeem(client, tenant, staff_pin_id=tenant.pin_id, notes="birthday")

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["card_id"] == tenant.card_id
    assert body["card_number"] == tenant.card_number
    assert body["stamp_count"] == 1
    assert body["stamps_target"] == 3
    assert body["reward_description"] == "A free beer"
    assert body["total_redemptions"] == 1
    assert body["message"] == "Reward redeemed: A free beer"
    entry = (await ledger(database, tenant.card_id))[-1]
    assert entry.id == body["transaction_id"]
    assert (entry.transaction_type, entry.stamps_delta, entry.stamps_balance_after) == ("stamp_redeemed", -3, 1)
    assert (entry.staff_pin_id, entry.reward_description, entry.notes) == (tenant.pin_id, "A free beer", "birthday")
    card = await card_row(database, tenant.card_id)
    assert (card.stamp_count, card.stamps_redeemed, card.total_stamps_earned) == (1, 1, 4)


async def test_redeem_without_description_says_reward_redeemed(
    client: httpx.AsyncClient, tenant: Tenant, clock: FixedClock
) -> None:
    await stamps_in_a_row(client, tenant, clock, 3)

    body = (await redeem(client, tenant)).json()

    assert body["message"] == "Reward redeemed"
    assert body["stamp_count"] == 0


async def test_redeem_checks_the_pin(client: httpx.AsyncClient, tenant: Tenant, clock: FixedClock) -> None:
    await stamps_in_a_row(client, tenant, clock, 3)

    assert_error(await redeem(client, tenant, staff_pin=None), 403, "STAFF_PIN_REQUIRED")
    details = assert_error(await redeem(client, tenant, staff_pin="0000"), 403, "INVALID_STAFF_PIN")
    assert details["remaining_attempts"] == 4


# --- localisation ---------------------------------------------------------------------------------


class FakeFrench:
    """Stands in for the French catalogue, so these tests do not depend on its progress."""

    def gettext(self, message: str) -> str:
        return f"FR[{message}]"

    def ngettext(self, singular: str, plural: str, count: int) -> str:
        return f"FR[{singular if count == 1 else plural}]"


@pytest.fixture
def fake_french(monkeypatch: pytest.MonkeyPatch) -> None:
    real = i18n.catalogue
    monkeypatch.setattr(i18n, "catalogue", lambda locale: FakeFrench() if locale == "fr" else real(locale))


async def test_accept_language_changes_the_message(
    client: httpx.AsyncClient, tenant: Tenant, fake_french: None
) -> None:
    response = await stamp(client, tenant, headers={"Accept-Language": "fr-LU, en;q=0.5"})

    assert response.status_code == 201
    assert response.json()["message"] == "FR[Stamp added: 1 of 3 stamps]"


async def test_accept_language_never_changes_the_error_code(
    client: httpx.AsyncClient, tenant: Tenant, fake_french: None
) -> None:
    assert (await stamp(client, tenant)).status_code == 201
    english = await stamp(client, tenant)
    french = await stamp(client, tenant, headers={"Accept-Language": "fr"})

    assert english.json()["error_code"] == french.json()["error_code"] == "STAMP_COOLDOWN"
    assert english.json()["details"] == french.json()["details"]
    assert french.json()["message"] != english.json()["message"]
    assert french.json()["message"].startswith("FR[")


@pytest.mark.parametrize("language", ["fr", "de", "lb", "lu"])
async def test_messages_use_the_real_catalogue(
    client: httpx.AsyncClient, tenant: Tenant, clock: FixedClock, language: str
) -> None:
    response = await stamp(client, tenant, headers={"Accept-Language": language})
    assert response.json()["message"] == i18n.translate(operations.STAMP_ADDED, language, count=1, target=3)

    clock.advance(timedelta(minutes=1))
    error = await stamp(client, tenant, headers={"Accept-Language": language})
    assert error.json()["error_code"] == "STAMP_COOLDOWN"
    assert error.json()["message"] == i18n.translate(errors.StampCooldown.message, language, minutes=15)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_stamp_without_pin_or_key_is_two_round_trips_and_commits_by_itself(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each round trip to PostgreSQL costs a worker ~85 µs of CPU (docs/performance.md): a no-PIN stamp sends
    the caller's key look-up and one statement, sent alone (no BEGIN, no COMMIT), which still writes the card,
    its entry and the totals together; a refused one falls back to the locked card, which names the refusal."""
    tenant = await make_tenant(database, settings, clock, slug="quick-counter", require_staff_pin=False)
    assert (await stamp(client, tenant, staff_pin=None)).status_code == 201  # the statements are prepared once
    clock.advance(timedelta(hours=1))
    sent = count_round_trips(monkeypatch)

    response = await stamp(client, tenant, staff_pin=None)

    assert response.status_code == 201, response.text
    assert sent == ["SELECT", "WITH"]  # the key (and programme), then the stamp
    assert response.json()["stamp_count"] == 2
    assert [entry.stamps_balance_after for entry in await ledger(database, tenant.card_id)] == [1, 2]

    sent.clear()
    refused = await stamp(client, tenant, staff_pin=None)  # within the cooldown: the one statement stamps nothing
    assert_error(refused, 429, "STAMP_COOLDOWN")
    assert sent[:3] == ["SELECT", "WITH", "BEGIN"]  # then the locked card, in a transaction, names the refusal
    assert len(await ledger(database, tenant.card_id)) == 2
