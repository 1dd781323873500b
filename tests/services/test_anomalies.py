"""The dashboard's anomalies (services/anomalies.py), each rule with a pattern it flags and one just under its
threshold that it must not, seeded through the services on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.errors import InvalidStaffPin, StampCooldown
from loyalty.models import CooldownRefusal, LoyaltyProgram, LoyaltyTransaction
from loyalty.services import cards, pins, programs, terminals
from loyalty.services.anomalies import Anomalies, find_anomalies
from loyalty.services.context import Context
from loyalty.services.stamps import StampRequest, add_stamp, redeem_stamps
from loyalty.services.voids import VoidRequest, void_transaction
from tests.services.helpers import Caller, caller_for
from tests.tenants import Tenant, make_tenant

pytestmark = pytest.mark.anyio

ZONE = "Europe/Luxembourg"
STAFF, OTHER_STAFF, OTHER_PIN = "Mia", "Noah", "5678"


async def anomalies_of(caller: Caller) -> Anomalies:
    return await caller.with_program(find_anomalies, ZONE)


async def stamp(caller: Caller, card_id: int, pin: str = "1234") -> LoyaltyTransaction:
    return (await caller(add_stamp, StampRequest(card_id=card_id, staff_pin=pin))).entry


async def stamps_on(caller: Caller, clock: FixedClock, card_id: int, count: int) -> list[int]:
    """`count` stamps 16 minutes apart (past the tenant's 15-minute cooldown) from the clock's time."""
    ids = []
    for _ in range(count):
        ids.append((await stamp(caller, card_id)).id)
        clock.advance(timedelta(minutes=16))
    return ids


async def second_card(caller: Caller, email: str = "second@example.com") -> int:
    async def enrol(ctx: Context, program: LoyaltyProgram) -> int:
        return (await cards.enrol(ctx, program, cards.Enrolment(email=email, name="Second"))).card.id

    return await caller.with_program(enrol)


# --- 1. a card at its daily limit on 3 of the last 7 days ----------------------------------------------


async def test_a_card_at_its_daily_limit_on_three_of_the_last_seven_days(
    caller: Caller, tenant: Tenant, clock: FixedClock, other_caller: Caller
) -> None:
    start = clock.now()  # 10:00 in Luxembourg; the tenant's limit is 5 a day
    other_card = await second_card(caller)
    behind: list[int] = []
    for day, (first, second) in enumerate([(5, 5), (0, 0), (5, 0), (0, 5), (5, 0), (0, 5), (5, 0), (4, 4), (0, 0)]):
        clock.current = start + timedelta(days=day)
        ids = await stamps_on(caller, clock, tenant.card_id, first)
        if day >= 2 and first == 5:
            behind += ids
        await stamps_on(caller, clock, other_card, second)
    # Today is day 8: the window is days 2 to 8. The first card was at its limit on days 0 (outside), 2, 4
    # and 6, with 4 of 5 on day 7; the second on days 0 (outside), 3 and 5: two days only.
    found = await anomalies_of(caller)

    [flagged] = found.daily_limits
    assert (flagged.card_id, flagged.days, flagged.limit) == (tenant.card_id, 3, 5)
    assert flagged.card_number.replace(" ", "") == tenant.card_number and " " in flagged.card_number
    assert sorted(flagged.entry_ids) == sorted(behind) and flagged.entry_ids == tuple(sorted(behind, reverse=True))
    assert found.all == [flagged]
    assert (await anomalies_of(other_caller)).all == []  # another shop sees none of it


async def test_the_local_day_decides_not_the_utc_one(caller: Caller, tenant: Tenant, clock: FixedClock) -> None:
    """Stamps from 23:00 to 01:00 in Luxembourg are two local days (one UTC day): no day reaches the limit."""
    start = clock.now()
    for day in range(3):
        clock.current = start + timedelta(days=day, hours=13)  # 23:00 in Luxembourg (UTC+1)
        await stamps_on(caller, clock, tenant.card_id, 5)  # 23:00, 23:16, 23:32, 23:48, 00:04
    clock.current = start + timedelta(days=3)
    assert (await anomalies_of(caller)).daily_limits == []


# --- 2. a card stamped at two terminals within its cooldown ------------------------------------------


async def test_a_card_stamped_at_two_terminals_closer_than_its_cooldown(
    caller: Caller, tenant: Tenant, clock: FixedClock
) -> None:
    counter = await caller(terminals.create_terminal, terminals.TerminalCreate(name="Till"))
    window = await caller(terminals.create_terminal, terminals.TerminalCreate(name="Window"))
    at_counter = caller.as_terminal(terminal_id=counter.terminal.id)
    at_window = caller.as_terminal(terminal_id=window.terminal.id)
    other_card = await second_card(caller)
    await caller(programs.update_program, programs.ProgramUpdate(cooldown_minutes=0))

    first = await stamp(at_counter, tenant.card_id)
    clock.advance(timedelta(minutes=5))
    second = await stamp(at_window, tenant.card_id)  # 5 minutes later, another terminal
    clock.advance(timedelta(minutes=20))
    await stamp(at_counter, tenant.card_id)  # 20 minutes after: longer than the cooldown
    await stamp(at_counter, other_card)
    clock.advance(timedelta(minutes=5))
    await stamp(at_counter, other_card)  # 5 minutes apart, but the same terminal
    clock.advance(timedelta(minutes=1))
    await stamp(caller, other_card)  # an API key's: no terminal to compare
    await caller(programs.update_program, programs.ProgramUpdate(cooldown_minutes=15))

    [flagged] = (await anomalies_of(caller)).two_terminals
    assert (flagged.card_id, flagged.cooldown_minutes, flagged.times) == (tenant.card_id, 15, 1)
    assert flagged.entry_ids == (second.id, first.id)
    assert flagged.terminal_names == ("Till", "Window")

    await caller(programs.update_program, programs.ProgramUpdate(cooldown_minutes=5))  # 5 minutes is not under 5
    assert (await anomalies_of(caller)).two_terminals == []


async def test_a_stamp_refused_at_another_terminal_within_the_cooldown(
    caller: Caller, tenant: Tenant, clock: FixedClock, database: Database
) -> None:
    """The pattern of a colleague stamping a friend's card twice: refused by the cooldown, yet worth a look."""
    counter = await caller(terminals.create_terminal, terminals.TerminalCreate(name="Till"))
    window = await caller(terminals.create_terminal, terminals.TerminalCreate(name="Window"))
    at_counter = caller.as_terminal(terminal_id=counter.terminal.id)
    at_window = caller.as_terminal(terminal_id=window.terminal.id)

    first = await stamp(at_counter, tenant.card_id)
    clock.advance(timedelta(minutes=5))
    with pytest.raises(StampCooldown):
        await stamp(at_window, tenant.card_id)  # another terminal, 5 minutes later: refused, and kept
    with pytest.raises(StampCooldown):
        await stamp(at_counter, tenant.card_id)  # the same terminal again: a customer in a hurry, not this
    with pytest.raises(StampCooldown):
        await stamp(caller, tenant.card_id)  # an API key's: no terminal to compare

    async with database.unit_of_work() as session:
        kept = (await session.execute(select(CooldownRefusal.terminal_id, CooldownRefusal.staff_pin_id))).all()
    assert sorted(kept) == sorted([(window.terminal.id, first.staff_pin_id), (counter.terminal.id, first.staff_pin_id)])
    [flagged] = (await anomalies_of(caller)).two_terminals
    assert (flagged.card_id, flagged.refused, flagged.times) == (tenant.card_id, 1, 0)
    assert flagged.entry_ids == (first.id,) and flagged.terminal_names == ("Till", "Window")

    clock.advance(timedelta(days=7))  # out of the window
    assert (await anomalies_of(caller)).two_terminals == []


# --- 3. staff whose share of redemptions or voids is far above their share of the earning ---------------


async def share_shop(database: Database, settings: Settings, clock: FixedClock) -> tuple[Tenant, Caller, int]:
    """A shop where a stamp is a reward (target 1), without cooldown: two members of staff, Mia ("1234")
    and Noah (OTHER_PIN, whose id is returned)."""
    shop = await make_tenant(
        database, settings, clock, slug="share-shop", staff_name=STAFF,
        cooldown_minutes=0, max_daily_stamps=100, stamps_target=1,
    )  # fmt: skip
    caller = await caller_for(database, settings, clock, shop)
    noah = await caller.with_program(pins.create_pin, pins.NewPin(name=OTHER_STAFF, pin=OTHER_PIN))
    return shop, caller, noah.id


async def redeem(caller: Caller, card_id: int, pin: str) -> int:
    return (await caller(redeem_stamps, StampRequest(card_id=card_id, staff_pin=pin))).entry.id


async def test_a_member_of_staff_giving_most_rewards_but_few_stamps(
    database: Database, settings: Settings, clock: FixedClock
) -> None:
    shop, caller, noah = await share_shop(database, settings, clock)
    for _ in range(10):
        await stamp(caller, shop.card_id)  # Mia: every stamp
    redeemed = [await redeem(caller, shop.card_id, OTHER_PIN) for _ in range(4)]
    assert (await anomalies_of(caller)).staff_shares == []  # 4 rewards: under the 5 the rule asks for

    redeemed.append(await redeem(caller, shop.card_id, OTHER_PIN))
    [flagged] = (await anomalies_of(caller)).staff_shares
    assert (flagged.staff_pin_id, flagged.staff_name, flagged.what) == (noah, OTHER_STAFF, "redemptions")
    assert (flagged.count, flagged.total, flagged.share_percent, flagged.earning_percent) == (5, 5, 100, 0)
    assert flagged.entry_ids == tuple(reversed(redeemed))


async def test_a_share_of_rewards_under_twice_the_share_of_stamps_is_no_anomaly(
    database: Database, settings: Settings, clock: FixedClock
) -> None:
    shop, caller, _ = await share_shop(database, settings, clock)
    for pin in ["1234"] * 7 + [OTHER_PIN] * 3:  # Noah: 30 % of the stamps
        await stamp(caller, shop.card_id, pin)
    for pin in ["1234"] * 5 + [OTHER_PIN] * 5:  # and 50 % of the rewards: under 2 × 30 %
        await redeem(caller, shop.card_id, pin)
    assert (await anomalies_of(caller)).all == []

    await stamp(caller, shop.card_id, "1234")  # Mia 8 of 11 stamps: Noah's 3 are 27 %, and 6 of 11 rewards 54 %
    await redeem(caller, shop.card_id, OTHER_PIN)
    [flagged] = (await anomalies_of(caller)).staff_shares
    assert (flagged.staff_name, flagged.count, flagged.total, flagged.share_percent, flagged.earning_percent) == (
        OTHER_STAFF, 6, 11, 54, 27,
    )  # fmt: skip


async def test_a_member_of_staff_voiding_what_others_stamped(
    database: Database, settings: Settings, clock: FixedClock
) -> None:
    shop, caller, noah = await share_shop(database, settings, clock)
    stamped = [(await stamp(caller, shop.card_id)).id for _ in range(6)]
    voids = []
    for entry_id in stamped[:5]:
        void = await caller(void_transaction, entry_id, VoidRequest(reason="Wrong card", staff_pin=OTHER_PIN))
        voids.append(void.id)
        if len(voids) == 4:
            assert (await anomalies_of(caller)).staff_shares == []
    [flagged] = (await anomalies_of(caller)).staff_shares
    assert (flagged.staff_pin_id, flagged.what, flagged.count, flagged.total) == (noah, "voids", 5, 5)
    assert flagged.entry_ids == tuple(reversed(voids))


async def test_the_share_counts_only_the_last_seven_days(
    database: Database, settings: Settings, clock: FixedClock
) -> None:
    shop, caller, _ = await share_shop(database, settings, clock)
    for _ in range(5):
        await stamp(caller, shop.card_id)
    for _ in range(5):
        await redeem(caller, shop.card_id, OTHER_PIN)
    assert (await anomalies_of(caller)).staff_shares != []
    clock.advance(timedelta(days=7))
    assert (await anomalies_of(caller)).staff_shares == []


# --- 4. repeated PIN failures per terminal --------------------------------------------------------------


async def wrong_pin(caller: Caller, card_id: int) -> None:
    with pytest.raises(InvalidStaffPin):
        await stamp(caller, card_id, "0000")


async def test_repeated_wrong_pins_at_a_terminal(
    caller: Caller, tenant: Tenant, clock: FixedClock, settings: Settings
) -> None:
    till = await caller(terminals.create_terminal, terminals.TerminalCreate(name="Till"))
    at_till = caller.as_terminal(terminal_id=till.terminal.id)
    for _ in range(2):
        await wrong_pin(at_till, tenant.card_id)
    assert (await anomalies_of(caller)).pin_failures == []  # two: a slip of the finger

    await wrong_pin(at_till, tenant.card_id)
    [flagged] = (await anomalies_of(caller)).pin_failures
    assert (flagged.terminal_id, flagged.name, flagged.failed_attempts) == (till.terminal.id, "Till", 3)
    assert (flagged.since, flagged.locked_until, flagged.entry_ids) == (clock.now(), None, ())

    for _ in range(settings.pin_max_attempts - 3):
        await wrong_pin(at_till, tenant.card_id)
    [locked] = (await anomalies_of(caller)).pin_failures
    assert locked.failed_attempts == 5 and locked.locked_until == clock.now() + timedelta(minutes=30)

    clock.advance(timedelta(days=7))  # the count began before the last seven days
    assert (await anomalies_of(caller)).pin_failures == []


async def test_an_api_keys_wrong_pins_are_named_by_its_key(caller: Caller, tenant: Tenant) -> None:
    for _ in range(3):
        await wrong_pin(caller, tenant.card_id)
    [flagged] = (await anomalies_of(caller)).pin_failures
    assert (flagged.terminal_id, flagged.api_key_id, flagged.name) == (None, caller.actor.api_key_id, "counter")
