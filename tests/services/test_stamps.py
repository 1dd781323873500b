"""Stamping and redeeming the stamp card: every rule, with the error's details."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.errors import (
    CardInactive,
    CardNotFound,
    DailyStampLimit,
    InsufficientStamps,
    ProgramInactive,
    StampCooldown,
    StampsNotEnabled,
)
from loyalty.services import cards, programs
from loyalty.services.card_numbers import format_card_number
from loyalty.services.context import Context
from loyalty.services.stamps import StampRequest, add_stamp, redeem_stamps
from tests.services import helpers
from tests.services.helpers import CLIENT_IP, USER_AGENT, Caller, caller_for
from tests.tenants import Tenant, make_tenant

pytestmark = pytest.mark.anyio

COOLDOWN = timedelta(minutes=15)


def stamp(tenant: Tenant, **fields: Any) -> StampRequest:
    fields.setdefault("staff_pin", tenant.pin)
    if not {"card_id", "qr_code", "card_number"} & fields.keys():
        fields["card_id"] = tenant.card_id
    return StampRequest(**fields)


async def test_a_stamp_moves_the_card_and_appends_one_ledger_row(
    database: Database, caller: Caller, tenant: Tenant, clock: FixedClock
) -> None:
    outcome = await caller(add_stamp, stamp(tenant, notes="flat white"))

    assert outcome.card.stamp_count == 1
    assert outcome.card.total_stamps_earned == 1
    assert outcome.stamps_today == 1
    assert outcome.stamps_until_reward == 2
    assert outcome.stamps_remaining_today == 4
    assert not outcome.reward_earned
    assert outcome.next_stamp_available_at == clock.now() + COOLDOWN
    stored = await helpers.card(database, tenant.card_id)
    assert (stored.stamp_count, stored.last_stamp_at) == (1, clock.now())
    [entry] = await helpers.ledger(database, tenant.card_id)
    assert entry.transaction_type == "stamp_earned"
    assert (entry.stamps_delta, entry.points_delta, entry.stamps_balance_after) == (1, 0, 1)
    assert (entry.staff_pin_id, entry.client_ip, entry.user_agent) == (tenant.pin_id, CLIENT_IP, USER_AGENT)
    assert entry.transaction_at == clock.now()
    assert entry.notes == "flat white"


async def test_the_card_can_be_named_by_qr_code_or_typed_number(
    caller: Caller, tenant: Tenant, clock: FixedClock
) -> None:
    await caller(add_stamp, stamp(tenant, qr_code=tenant.qr_code))
    clock.advance(COOLDOWN)
    typed = format_card_number(tenant.card_number).replace(" ", "-", 1)
    outcome = await caller(add_stamp, stamp(tenant, card_number=typed))
    assert outcome.card.stamp_count == 2


def test_a_card_is_named_exactly_one_way() -> None:
    with pytest.raises(ValidationError):
        StampRequest(staff_pin="1234")
    with pytest.raises(ValidationError):
        StampRequest(card_id=1, qr_code="abc", staff_pin="1234")


async def test_cooldown_refuses_a_second_stamp_until_it_ends(
    database: Database, caller: Caller, tenant: Tenant, clock: FixedClock
) -> None:
    first = clock.now()
    await caller(add_stamp, stamp(tenant))
    clock.advance(COOLDOWN - timedelta(seconds=1))

    with pytest.raises(StampCooldown) as refused:
        await caller(add_stamp, stamp(tenant))

    assert refused.value.details == {"cooldown_ends": (first + COOLDOWN).isoformat(), "cooldown_minutes": 15}
    assert refused.value.retry_after_seconds == 1
    assert refused.value.status_code == 429
    assert (await helpers.card(database, tenant.card_id)).stamp_count == 1
    clock.advance(timedelta(seconds=1))  # the cooldown ends exactly now
    assert (await caller(add_stamp, stamp(tenant))).card.stamp_count == 2


async def test_cooldown_retry_after_is_the_remaining_time(caller: Caller, tenant: Tenant, clock: FixedClock) -> None:
    await caller(add_stamp, stamp(tenant))
    clock.advance(timedelta(minutes=5))
    with pytest.raises(StampCooldown) as refused:
        await caller(add_stamp, stamp(tenant))
    assert refused.value.retry_after_seconds == 600


async def test_cooldown_zero_allows_back_to_back_stamps(database: Database, caller: Caller, tenant: Tenant) -> None:
    await helpers.set_program(database, tenant.program_id, cooldown_minutes=0)
    for expected in (1, 2, 3):
        outcome = await caller(add_stamp, stamp(tenant))
        assert outcome.card.stamp_count == expected
        assert outcome.next_stamp_available_at is None


async def test_daily_limit_refuses_the_sixth_stamp_with_details(
    database: Database, caller: Caller, tenant: Tenant, clock: FixedClock
) -> None:
    await helpers.set_program(database, tenant.program_id, stamps_target=100)
    for _ in range(5):
        await caller(add_stamp, stamp(tenant))
        clock.advance(COOLDOWN)

    with pytest.raises(DailyStampLimit) as refused:
        await caller(add_stamp, stamp(tenant))

    # 10:00 Luxembourg + 5 × 15 min = 11:15; the local day ends at 23:00 UTC.
    assert refused.value.details == {
        "max_daily_stamps": 5,
        "stamps_today": 5,
        "resets_at": "2026-11-21T23:00:00+00:00",
    }
    assert refused.value.retry_after_seconds == int(
        (clock.now().replace(hour=23, minute=0) - clock.now()).total_seconds()
    )
    assert len(await helpers.ledger(database, tenant.card_id)) == 5


async def test_a_voided_stamp_still_counts_towards_the_daily_limit(
    database: Database, caller: Caller, tenant: Tenant
) -> None:
    from loyalty.services.voids import VoidRequest, void_transaction

    await helpers.set_program(database, tenant.program_id, cooldown_minutes=0, max_daily_stamps=1)
    outcome = await caller(add_stamp, stamp(tenant))
    await caller(void_transaction, outcome.entry.id, VoidRequest(reason="mistake", staff_pin=tenant.pin))
    with pytest.raises(DailyStampLimit):
        await caller(add_stamp, stamp(tenant))


async def test_redeeming_needs_the_full_card(
    database: Database, caller: Caller, tenant: Tenant, clock: FixedClock
) -> None:
    await caller(add_stamp, stamp(tenant))
    with pytest.raises(InsufficientStamps) as refused:
        await caller(redeem_stamps, stamp(tenant))
    assert refused.value.details == {"current_stamps": 1, "required_stamps": 3}
    assert len(await helpers.ledger(database, tenant.card_id)) == 1


async def test_redeeming_a_full_card_spends_the_target(
    database: Database, caller: Caller, tenant: Tenant, clock: FixedClock
) -> None:
    await helpers.set_program(database, tenant.program_id, stamps_reward_description="A free coffee")
    for _ in range(4):
        await caller(add_stamp, stamp(tenant))
        clock.advance(COOLDOWN)
    assert (await helpers.card(database, tenant.card_id)).stamp_count == 4

    outcome = await caller(redeem_stamps, stamp(tenant))

    assert (outcome.card.stamp_count, outcome.card.stamps_redeemed, outcome.card.total_stamps_earned) == (1, 1, 4)
    assert outcome.entry.transaction_type == "stamp_redeemed"
    assert (outcome.entry.stamps_delta, outcome.entry.stamps_balance_after) == (-3, 1)
    assert outcome.entry.reward_description == "A free coffee"
    assert outcome.entry.staff_pin_id == tenant.pin_id
    await helpers.assert_ledger_consistent(database)


async def test_another_vendors_card_is_not_found(
    database: Database, settings: Settings, clock: FixedClock, caller: Caller, other_tenant: Tenant
) -> None:
    with pytest.raises(CardNotFound) as refused:
        await caller(add_stamp, StampRequest(card_id=other_tenant.card_id, staff_pin="1234"))
    assert refused.value.details == {"identifier": other_tenant.card_id}
    with pytest.raises(CardNotFound):
        await caller(add_stamp, StampRequest(qr_code=other_tenant.qr_code, staff_pin="1234"))
    assert await helpers.ledger(database) == []


async def test_an_unknown_card_is_not_found(caller: Caller, tenant: Tenant) -> None:
    with pytest.raises(CardNotFound) as refused:
        await caller(add_stamp, stamp(tenant, card_number="0000 0000 0000 0000"))
    assert refused.value.details == {"identifier": "0000 0000 0000 0000"}


async def test_a_deactivated_card_cannot_be_stamped(database: Database, caller: Caller, tenant: Tenant) -> None:
    await caller(cards.set_card_active, tenant.card_id, False)
    with pytest.raises(CardInactive) as refused:
        await caller(add_stamp, stamp(tenant))
    assert refused.value.details == {"card_id": tenant.card_id}
    with pytest.raises(CardInactive):
        await caller(redeem_stamps, stamp(tenant))


async def test_a_paused_programme_takes_no_stamps(caller: Caller, tenant: Tenant) -> None:
    async def pause(ctx: Context) -> None:
        await programs.set_program_active(ctx, await programs.get_program(ctx), False)

    await caller(pause)
    with pytest.raises(ProgramInactive) as refused:
        await caller(add_stamp, stamp(tenant))
    assert refused.value.details == {"program_id": tenant.program_id}


async def test_a_points_programme_takes_no_stamps(database: Database, settings: Settings, clock: FixedClock) -> None:
    shop = await make_tenant(database, settings, clock, slug="points-only", program_type="points")
    points_caller = await caller_for(database, settings, clock, shop)
    with pytest.raises(StampsNotEnabled) as refused:
        await points_caller(add_stamp, stamp(shop))
    assert refused.value.details == {"program_id": shop.program_id}
    with pytest.raises(StampsNotEnabled):
        await points_caller(redeem_stamps, stamp(shop))


async def test_without_a_required_pin_nothing_is_written(database: Database, caller: Caller, tenant: Tenant) -> None:
    from loyalty.errors import StaffPinRequired

    with pytest.raises(StaffPinRequired):
        await caller(add_stamp, stamp(tenant, staff_pin=None))
    assert await helpers.ledger(database) == []


async def test_a_programme_without_pins_records_no_staff(database: Database, caller: Caller, tenant: Tenant) -> None:
    await helpers.set_program(database, tenant.program_id, require_staff_pin=False)
    outcome = await caller(add_stamp, stamp(tenant, staff_pin=None))
    assert outcome.entry.staff_pin_id is None
    assert outcome.entry.client_ip == CLIENT_IP
