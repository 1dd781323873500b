"""Staff PINs: format, uniqueness, bcrypt storage, one bcrypt per check, lockouts that survive the
rolled-back request and cannot be dodged by naming another PIN."""

from __future__ import annotations

from datetime import timedelta

import bcrypt
import pytest
from pydantic import ValidationError
from sqlalchemy import text

from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.errors import (
    InvalidStaffPin,
    StaffPinAlreadyExists,
    StaffPinLocked,
    StaffPinNotFound,
    StaffPinRequired,
)
from loyalty.models import StaffPin
from loyalty.services import pins
from loyalty.services.pins import NewPin, PinChanges, verify_staff_pin
from loyalty.services.stamps import StampRequest, add_stamp
from tests.services import helpers
from tests.services.helpers import Caller
from tests.tenants import Tenant

pytestmark = pytest.mark.anyio


async def check(caller: Caller, pin: str | None, pin_id: int | None = None) -> StaffPin | None:
    """One verification in its own unit of work, as a request would do it."""
    return await caller.with_program(verify_staff_pin, pin, pin_id)


async def approved_by(caller: Caller, pin: str, pin_id: int | None = None) -> int | None:
    """The id of the staff PIN that approves, None when none does."""
    staff = await check(caller, pin, pin_id)
    return staff.id if staff is not None else None


async def add_pin(caller: Caller, name: str, digits: str) -> StaffPin:
    return await caller.with_program(pins.create_pin, NewPin(name=name, pin=digits))


# --- format and storage ---------------------------------------------------------------------------


@pytest.mark.parametrize("digits", ["1234", "12345678", "0000"])
def test_four_to_eight_digits_are_a_pin(digits: str) -> None:
    assert NewPin(name="A", pin=digits).pin == digits
    assert PinChanges(pin=digits).pin == digits


@pytest.mark.parametrize("digits", ["123", "123456789", "12a4", "12 34", "", "١٢٣٤"])
def test_anything_else_is_not(digits: str) -> None:
    with pytest.raises(ValidationError):
        NewPin(name="A", pin=digits)
    with pytest.raises(ValidationError):
        PinChanges(pin=digits)


async def test_only_a_bcrypt_hash_is_stored(database: Database, caller: Caller, tenant: Tenant) -> None:
    created = await add_pin(caller, "Luc", "86420")
    stored = await helpers.staff_pin(database, created.id)
    assert stored.pin_hash.startswith("$2")
    assert bcrypt.checkpw(b"86420", stored.pin_hash.encode())
    async with database.unit_of_work() as session:
        row = (await session.execute(text("SELECT * FROM staff_pins WHERE id = :id"), {"id": created.id})).one()
    assert not any("86420" in str(value) for value in row)


async def test_a_pin_is_unique_within_its_programme(caller: Caller, tenant: Tenant) -> None:
    with pytest.raises(StaffPinAlreadyExists):
        await add_pin(caller, "Copycat", tenant.pin)
    other = await add_pin(caller, "Luc", "5678")
    with pytest.raises(StaffPinAlreadyExists):
        await caller.with_program(pins.update_pin, other.id, PinChanges(pin=tenant.pin))


async def test_the_same_digits_are_fine_in_another_programme(
    caller: Caller, tenant: Tenant, other_caller: Caller
) -> None:
    created = await add_pin(other_caller, "Twin", tenant.pin)
    assert created.id != tenant.pin_id
    assert await approved_by(other_caller, tenant.pin) == created.id
    assert await approved_by(caller, tenant.pin) == tenant.pin_id


async def test_a_deleted_pin_frees_its_digits_and_stops_working(
    database: Database, caller: Caller, tenant: Tenant
) -> None:
    await caller.with_program(pins.delete_pin, tenant.pin_id)
    with pytest.raises(InvalidStaffPin):
        await check(caller, tenant.pin)
    with pytest.raises(StaffPinNotFound) as missing:
        await caller.with_program(pins.get_pin, tenant.pin_id)
    assert missing.value.details == {"identifier": tenant.pin_id}
    assert (await add_pin(caller, "Again", tenant.pin)).id != tenant.pin_id


async def test_an_unknown_pin_id_is_not_found(caller: Caller) -> None:
    with pytest.raises(StaffPinNotFound):
        await caller.with_program(pins.update_pin, 999_999, PinChanges(name="x"))
    with pytest.raises(StaffPinNotFound):
        await caller.with_program(pins.unlock_pin, 999_999)


async def test_another_programmes_pin_is_not_found(caller: Caller, other_tenant: Tenant) -> None:
    with pytest.raises(StaffPinNotFound):
        await caller.with_program(pins.get_pin, other_tenant.pin_id)


async def test_changing_a_pin_replaces_the_digits(caller: Caller, tenant: Tenant) -> None:
    await caller.with_program(pins.update_pin, tenant.pin_id, PinChanges(pin="97531"))
    assert await approved_by(caller, "97531") == tenant.pin_id
    with pytest.raises(InvalidStaffPin):
        await check(caller, tenant.pin)


async def test_an_inactive_pin_does_not_approve(caller: Caller, tenant: Tenant) -> None:
    await caller.with_program(pins.update_pin, tenant.pin_id, PinChanges(is_active=False))
    with pytest.raises(InvalidStaffPin):
        await check(caller, tenant.pin)
    with pytest.raises(InvalidStaffPin):
        await check(caller, tenant.pin, tenant.pin_id)


# --- verification cost ----------------------------------------------------------------------------


@pytest.fixture
def bcrypt_checks(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    calls: list[bytes] = []
    real = bcrypt.checkpw

    def spy(password: bytes, hashed: bytes) -> bool:
        calls.append(password)
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", spy)
    return calls


async def test_a_check_costs_at_most_one_bcrypt_whatever_the_staff_count(
    caller: Caller, tenant: Tenant, bcrypt_checks: list[bytes]
) -> None:
    staff = [await add_pin(caller, f"Staff {n}", f"{5000 + n}") for n in range(30)]

    assert await approved_by(caller, "5029") == staff[-1].id
    assert len(bcrypt_checks) == 1

    assert await approved_by(caller, "5000", staff[0].id) == staff[0].id
    assert len(bcrypt_checks) == 2

    with pytest.raises(InvalidStaffPin):
        await check(caller, "4999")  # nobody's PIN: no candidate, no bcrypt at all
    assert len(bcrypt_checks) == 2

    with pytest.raises(InvalidStaffPin):
        await check(caller, "4999", staff[3].id)
    assert len(bcrypt_checks) == 3


async def test_a_required_pin_must_be_given(caller: Caller) -> None:
    with pytest.raises(StaffPinRequired):
        await check(caller, None)


async def test_no_pin_is_fine_when_the_programme_needs_none(database: Database, caller: Caller, tenant: Tenant) -> None:
    await helpers.set_program(database, tenant.program_id, require_staff_pin=False)
    assert await check(caller, None) is None
    with pytest.raises(InvalidStaffPin):  # but a PIN that is given must be right
        await check(caller, "0000")


async def test_a_successful_check_records_its_use(
    database: Database, caller: Caller, tenant: Tenant, clock: FixedClock
) -> None:
    await check(caller, tenant.pin)
    assert (await helpers.staff_pin(database, tenant.pin_id)).last_used_at == clock.now()


# --- lockout --------------------------------------------------------------------------------------


async def test_failures_survive_the_rolled_back_request(database: Database, caller: Caller, tenant: Tenant) -> None:
    with pytest.raises(InvalidStaffPin) as refused:
        await caller(add_stamp, StampRequest(card_id=tenant.card_id, staff_pin="0000", staff_pin_id=tenant.pin_id))
    assert refused.value.details == {"remaining_attempts": 4}

    assert (await helpers.staff_pin(database, tenant.pin_id)).failed_attempts == 1
    [guard] = await helpers.guards(database)
    assert (guard.terminal, guard.failed_attempts, guard.program_id) == (
        f"key:{caller.actor.api_key_id}",
        1,
        tenant.program_id,
    )
    assert await helpers.ledger(database) == []
    assert (await helpers.card(database, tenant.card_id)).stamp_count == 0


async def test_a_pin_locks_after_the_configured_failures_until_the_lockout_ends(
    database: Database, settings: Settings, caller: Caller, tenant: Tenant, clock: FixedClock
) -> None:
    assert (settings.pin_max_attempts, settings.pin_lockout_minutes) == (5, 30)
    remaining = []
    for _ in range(settings.pin_max_attempts):
        with pytest.raises(InvalidStaffPin) as refused:
            await check(caller, "0000", tenant.pin_id)
        remaining.append(refused.value.details["remaining_attempts"])
    assert remaining == [4, 3, 2, 1, 0]
    locked_until = clock.now() + timedelta(minutes=30)
    stored = await helpers.staff_pin(database, tenant.pin_id)
    assert (stored.failed_attempts, stored.locked_until) == (5, locked_until)

    with pytest.raises(StaffPinLocked) as locked:  # even the right PIN
        await check(caller, tenant.pin, tenant.pin_id)
    # the terminal locks too (every failure counts against it), and it is checked first
    assert locked.value.details == {"locked_until": locked_until.isoformat(), "lock": "terminal"}
    assert locked.value.status_code == 423

    other_terminal = caller.as_terminal(api_key_id=None, client_ip="198.51.100.9")
    with pytest.raises(StaffPinLocked):  # the PIN itself is locked, from any terminal
        await check(other_terminal, tenant.pin, tenant.pin_id)
    with pytest.raises(StaffPinLocked):  # and typed without its id
        await check(other_terminal, tenant.pin)

    clock.advance(timedelta(minutes=30) - timedelta(seconds=1))
    with pytest.raises(StaffPinLocked):
        await check(caller, tenant.pin, tenant.pin_id)
    clock.advance(timedelta(seconds=1))
    assert await approved_by(caller, tenant.pin, tenant.pin_id) == tenant.pin_id
    assert (await helpers.staff_pin(database, tenant.pin_id)).failed_attempts == 0


async def test_an_expired_lock_starts_counting_afresh(
    database: Database, settings: Settings, caller: Caller, tenant: Tenant, clock: FixedClock
) -> None:
    for _ in range(settings.pin_max_attempts):
        with pytest.raises(InvalidStaffPin):
            await check(caller, "0000", tenant.pin_id)
    clock.advance(timedelta(minutes=31))
    with pytest.raises(InvalidStaffPin) as refused:
        await check(caller, "0000", tenant.pin_id)
    assert refused.value.details == {"remaining_attempts": 4}
    stored = await helpers.staff_pin(database, tenant.pin_id)
    assert (stored.failed_attempts, stored.locked_until) == (1, None)


async def test_without_a_pin_id_the_terminal_is_locked(
    database: Database, settings: Settings, caller: Caller, tenant: Tenant, clock: FixedClock
) -> None:
    remaining = []
    for _ in range(settings.pin_max_attempts):
        with pytest.raises(InvalidStaffPin) as refused:
            await check(caller, "0000")
        remaining.append(refused.value.details["remaining_attempts"])
    assert remaining == [4, 3, 2, 1, 0]
    assert (await helpers.staff_pin(database, tenant.pin_id)).failed_attempts == 0  # no PIN was identified

    with pytest.raises(StaffPinLocked):
        await check(caller, tenant.pin)
    with pytest.raises(StaffPinLocked):  # naming a PIN id does not dodge the terminal's lock
        await check(caller, tenant.pin, tenant.pin_id)

    assert caller.actor.api_key_id is not None
    other_terminal = caller.as_terminal(api_key_id=caller.actor.api_key_id + 1000)
    assert await approved_by(other_terminal, tenant.pin) == tenant.pin_id

    clock.advance(timedelta(minutes=30))
    assert await approved_by(caller, tenant.pin) == tenant.pin_id


async def test_a_locked_terminal_stays_locked_when_naming_another_pin(
    database: Database, settings: Settings, caller: Caller, tenant: Tenant
) -> None:
    second = await add_pin(caller, "Luc", "5678")
    for _ in range(settings.pin_max_attempts):
        with pytest.raises(InvalidStaffPin):
            await check(caller, "0000", tenant.pin_id)
    with pytest.raises(StaffPinLocked):
        await check(caller, "5678", second.id)
    with pytest.raises(StaffPinLocked):
        await check(caller, "5678")
    assert (await helpers.staff_pin(database, second.id)).failed_attempts == 0


async def test_switching_pin_ids_still_counts_every_failure_against_the_terminal(
    database: Database, settings: Settings, caller: Caller, tenant: Tenant
) -> None:
    ids = [tenant.pin_id] + [(await add_pin(caller, f"S{n}", f"{6000 + n}")).id for n in range(4)]
    for pin_id in ids:  # one failure on each of five PINs: no PIN reaches the limit
        with pytest.raises(InvalidStaffPin):
            await check(caller, "0000", pin_id)
    with pytest.raises(StaffPinLocked):
        await check(caller, tenant.pin, tenant.pin_id)


async def test_unlocking_clears_the_pin_and_the_terminals(
    database: Database, settings: Settings, caller: Caller, tenant: Tenant
) -> None:
    for _ in range(settings.pin_max_attempts):
        with pytest.raises(InvalidStaffPin):
            await check(caller, "0000", tenant.pin_id)
    unlocked = await caller.with_program(pins.unlock_pin, tenant.pin_id)
    assert (unlocked.failed_attempts, unlocked.locked_until) == (0, None)
    assert await helpers.guards(database) == []
    assert await approved_by(caller, tenant.pin, tenant.pin_id) == tenant.pin_id


async def test_a_success_resets_the_pins_count_but_not_the_terminals(
    database: Database, caller: Caller, tenant: Tenant
) -> None:
    for _ in range(3):
        with pytest.raises(InvalidStaffPin):
            await check(caller, "0000", tenant.pin_id)
    await check(caller, tenant.pin, tenant.pin_id)
    assert (await helpers.staff_pin(database, tenant.pin_id)).failed_attempts == 0
    [guard] = await helpers.guards(database)
    assert guard.failed_attempts == 3  # only time, or the vendor's unlock, clears it


async def test_the_pin_lockout_settings_are_honoured(
    database: Database, settings: Settings, clock: FixedClock, tenant: Tenant
) -> None:
    from tests.fixtures import test_settings
    from tests.services.helpers import caller_for

    strict = test_settings(settings.database_url, pin_max_attempts=2, pin_lockout_minutes=5)
    caller = await caller_for(database, strict, clock, tenant)
    for _ in range(2):
        with pytest.raises(InvalidStaffPin):
            await check(caller, "0000", tenant.pin_id)
    with pytest.raises(StaffPinLocked) as locked:
        await check(caller, tenant.pin, tenant.pin_id)
    assert locked.value.details == {
        "locked_until": (clock.now() + timedelta(minutes=5)).isoformat(),
        "lock": "terminal",
    }
