"""Staff PINs: 4–8 digits, bcrypt-hashed, unique within a programme, locked after repeated failures.

A check costs at most one bcrypt verification: with `staff_pin_id` we verify that PIN; without it
the keyed fingerprint (`pin_lookup`, an HMAC under the server secret) names the only candidate.
Every failure counts against the calling terminal (`PinGuard`) and, when a PIN was named, against
that PIN too, so naming another `staff_pin_id` does not dodge a lockout. Failures are recorded in a
transaction of their own (`after_rollback`), because the failing request itself rolls back.

Counts run within a window of LOYALTY_PIN_LOCKOUT_MINUTES from the window's first failure. A PIN's
success clears that PIN's own count (whoever typed it knows it), never the terminal's: otherwise a
terminal could guess other digits between successes of a PIN it knows and never lock.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

import bcrypt
from pydantic import Field
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from loyalty.config import Settings
from loyalty.db import after_rollback
from loyalty.errors import (
    InvalidStaffPin,
    StaffPinAlreadyExists,
    StaffPinLocked,
    StaffPinNotFound,
    StaffPinRequired,
)
from loyalty.models import ApiKey, LoyaltyProgram, PinGuard, StaffPin, Terminal
from loyalty.models.base import MAX_ID
from loyalty.services.bodies import RequestBody
from loyalty.services.context import Context
from loyalty.services.pages import Page, paginate
from loyalty.services.upserts import insert_ignoring_conflict

PIN_PATTERN = r"^[0-9]{4,8}$"


class NewPin(RequestBody):
    name: str = Field(min_length=1, max_length=200)
    pin: str = Field(pattern=PIN_PATTERN, description="4 to 8 digits")


class PinChanges(RequestBody):
    name: str | None = Field(None, min_length=1, max_length=200)
    pin: str | None = Field(None, pattern=PIN_PATTERN, description="4 to 8 digits")
    is_active: bool | None = None


class StaffApproval(RequestBody):
    """The staff PIN approving a counter operation: part of the stamp, points and void bodies."""

    # A PIN of the wrong shape is a typo, answered 422; it is never counted as a wrong guess.
    staff_pin: str | None = Field(None, pattern=PIN_PATTERN, description="The staff PIN: 4 to 8 digits.")
    staff_pin_id: int | None = Field(None, ge=1, le=MAX_ID)


def pin_fingerprint(settings: Settings, program_id: int, pin: str) -> str:
    """The PIN's look-up key within its programme: HMAC-SHA256 of `program_id:pin` under
    LOYALTY_SECRET_KEY, as 64 hex digits. Finds the one candidate for a PIN sent without `staff_pin_id`
    (one bcrypt check per request) and keeps PINs unique within a programme (docs/rules.md, "Staff PINs")."""
    message = f"{program_id}:{pin}".encode()
    return hmac.new(settings.secret_key.encode(), message, hashlib.sha256).hexdigest()


def _hash(settings: Settings, pin: str) -> str:
    return bcrypt.hashpw(pin.encode(), bcrypt.gensalt(rounds=settings.bcrypt_rounds)).decode()


def is_locked(locked_until: datetime | None, now: datetime) -> bool:
    """Whether a lock that lasts until `locked_until` (UTC; None: no lock) still holds at `now`."""
    return locked_until is not None and locked_until > now


# --- management ----------------------------------------------------------------------------------


async def list_pins(ctx: Context, program: LoyaltyProgram, *, limit: int, offset: int) -> Page[StaffPin]:
    """The programme's PINs not deleted, by id, one page (`limit` rows after `offset`). Raises nothing."""
    query = select(StaffPin).where(StaffPin.program_id == program.id, StaffPin.deleted_at.is_(None))
    return await paginate(ctx.session, query, order_by=(StaffPin.id,), limit=limit, offset=offset)


async def get_pin(ctx: Context, program: LoyaltyProgram, pin_id: int) -> StaffPin:
    """The programme's PIN `pin_id`. Raises StaffPinNotFound (404) for a deleted PIN or another programme's."""
    pin = await ctx.session.scalar(
        select(StaffPin).where(StaffPin.id == pin_id, StaffPin.program_id == program.id, StaffPin.deleted_at.is_(None))
    )
    if pin is None:
        raise StaffPinNotFound(pin_id)
    return pin


async def create_pin(ctx: Context, program: LoyaltyProgram, new: NewPin) -> StaffPin:
    """A new active PIN for the programme: bcrypt-hashed (cost LOYALTY_BCRYPT_ROUNDS, in a thread) with
    its look-up fingerprint; the digits are never stored. Raises StaffPinAlreadyExists (409) for digits
    another PIN of the programme has. Rules: docs/rules.md, "Staff PINs"."""
    staff_pin = StaffPin(
        vendor_id=program.vendor_id,
        program_id=program.id,
        name=new.name,
        pin_hash=await asyncio.to_thread(_hash, ctx.settings, new.pin),
        pin_lookup=pin_fingerprint(ctx.settings, program.id, new.pin),
        is_active=True,
        failed_attempts=0,
        created_at=ctx.clock.now(),
    )
    ctx.session.add(staff_pin)
    await _flush_unique(ctx)
    return staff_pin


async def update_pin(ctx: Context, program: LoyaltyProgram, pin_id: int, changes: PinChanges) -> StaffPin:
    """Applies the fields given (name, digits, active). Raises StaffPinNotFound (404);
    StaffPinAlreadyExists (409) for digits another PIN of the programme has."""
    staff_pin = await get_pin(ctx, program, pin_id)
    if changes.name is not None:
        staff_pin.name = changes.name
    if changes.is_active is not None:
        staff_pin.is_active = changes.is_active
    if changes.pin is not None:
        staff_pin.pin_hash = await asyncio.to_thread(_hash, ctx.settings, changes.pin)
        staff_pin.pin_lookup = pin_fingerprint(ctx.settings, program.id, changes.pin)
    await _flush_unique(ctx)
    return staff_pin


async def delete_pin(ctx: Context, program: LoyaltyProgram, pin_id: int) -> None:
    """Soft delete: ledger rows keep pointing at the PIN that approved them; the digits are freed.
    Raises StaffPinNotFound (404)."""
    staff_pin = await get_pin(ctx, program, pin_id)
    staff_pin.deleted_at = ctx.clock.now()
    staff_pin.is_active = False
    staff_pin.pin_lookup = None
    await ctx.session.flush()


async def unlock_pin(ctx: Context, program: LoyaltyProgram, pin_id: int) -> StaffPin:
    """The vendor vouches for its counter: the PIN's failure count and lock, and every terminal count
    of the programme, are cleared (docs/rules.md, "Staff PINs"). Raises StaffPinNotFound (404)."""
    staff_pin = await get_pin(ctx, program, pin_id)
    staff_pin.failed_attempts, staff_pin.locked_until, staff_pin.failures_since = 0, None, None
    await ctx.session.execute(delete(PinGuard).where(PinGuard.program_id == program.id))
    await ctx.session.flush()
    return staff_pin


@dataclass(frozen=True)
class TerminalCount:
    """A terminal's count of wrong PINs sent without `staff_pin_id`, and its lock."""

    guard: PinGuard
    api_key_id: int | None
    api_key_name: str | None
    terminal_id: int | None = None  # a paired counter terminal's (`terminals.id`)
    terminal_name: str | None = None


async def terminal_counts(ctx: Context, program: LoyaltyProgram) -> list[TerminalCount]:
    """The programme's terminals with wrong PINs counted against them, oldest first: what
    `GET /pins` cannot show, since such a lock belongs to the terminal (its API key), not to a PIN.
    Raises nothing."""
    guards = list(
        await ctx.session.scalars(
            select(PinGuard)
            .where(PinGuard.program_id == program.id, PinGuard.failed_attempts > 0)
            .order_by(PinGuard.id)
        )
    )
    key_ids = [_subject_id(guard.terminal, "key") for guard in guards]
    terminal_ids = [_subject_id(guard.terminal, "terminal") for guard in guards]
    key_names = await _names(ctx, ApiKey, key_ids)
    terminal_names = await _names(ctx, Terminal, terminal_ids)
    return [
        TerminalCount(
            guard,
            key_id,
            key_names.get(key_id) if key_id is not None else None,
            terminal_id,
            terminal_names.get(terminal_id) if terminal_id is not None else None,
        )
        for guard, key_id, terminal_id in zip(guards, key_ids, terminal_ids, strict=True)
    ]


async def _names(ctx: Context, model: type[ApiKey] | type[Terminal], ids: list[int | None]) -> dict[int, str]:
    wanted = {row_id for row_id in ids if row_id is not None}
    if not wanted:
        return {}
    rows = await ctx.session.execute(select(model.id, model.name).where(model.id.in_(wanted)))
    return {row_id: name for row_id, name in rows}


def _subject_id(terminal: str, kind: str) -> int | None:
    """The id in a `pin_guards.terminal` of `kind` (`key:<id>`, `terminal:<id>`), else None."""
    found, _, value = terminal.partition(":")
    return int(value) if found == kind and value.isdigit() else None


async def _flush_unique(ctx: Context) -> None:
    try:
        async with ctx.session.begin_nested():
            await ctx.session.flush()
    except IntegrityError as exc:
        raise StaffPinAlreadyExists() from exc


# --- verification --------------------------------------------------------------------------------


async def verify_staff_pin(
    ctx: Context, program: LoyaltyProgram, pin: str | None, pin_id: int | None
) -> StaffPin | None:
    """The approving PIN (its `last_used_at` set, its own failure count cleared), or None when the
    programme requires none and none was sent. At most one bcrypt check: `pin_id`'s PIN, or the one
    candidate the fingerprint finds. A failure is counted against the calling terminal and, when
    `pin_id` named a PIN, against that PIN, in a transaction of its own once the request's rolls back
    (`db.after_rollback`).

    Raises StaffPinRequired (403), StaffPinLocked (423, `lock`: `terminal` or `staff_pin`, checked before
    bcrypt), InvalidStaffPin (403, with the attempts left). Rules: docs/rules.md, "Staff PINs"
    (DESIGN.md, "Business rules")."""
    if pin is None:
        if program.require_staff_pin:
            raise StaffPinRequired()
        return None
    now = ctx.clock.now()
    guard = await ctx.session.scalar(
        select(PinGuard).where(PinGuard.program_id == program.id, PinGuard.terminal == _terminal(ctx))
    )
    if guard is not None and is_locked(guard.locked_until, now):
        raise StaffPinLocked(guard.locked_until, StaffPinLocked.TERMINAL)  # type: ignore[arg-type]
    candidate = await _candidate(ctx, program, pin, pin_id)
    if candidate is not None and is_locked(candidate.locked_until, now):
        raise StaffPinLocked(candidate.locked_until, StaffPinLocked.STAFF_PIN, candidate.id)  # type: ignore[arg-type]
    if candidate is not None and candidate.is_active and await _matches(pin, candidate.pin_hash):
        _record_success(candidate, now)
        return candidate
    _record_failure_after_rollback(ctx, program, pin_id=candidate.id if pin_id is not None and candidate else None)
    raise InvalidStaffPin(_remaining_attempts(ctx.settings, guard, candidate if pin_id is not None else None, now))


async def _candidate(ctx: Context, program: LoyaltyProgram, pin: str, pin_id: int | None) -> StaffPin | None:
    query = select(StaffPin).where(StaffPin.program_id == program.id, StaffPin.deleted_at.is_(None))
    if pin_id is not None:
        return await ctx.session.scalar(query.where(StaffPin.id == pin_id))
    if not pin.isdigit():
        return None
    return await ctx.session.scalar(query.where(StaffPin.pin_lookup == pin_fingerprint(ctx.settings, program.id, pin)))


async def _matches(pin: str, pin_hash: str) -> bool:
    # bcrypt holds the CPU for tens of milliseconds: keep it off the event loop.
    return await asyncio.to_thread(bcrypt.checkpw, pin.encode(), pin_hash.encode())


def _terminal(ctx: Context) -> str:
    return ctx.actor.terminal if ctx.actor else "unknown"


def _record_success(staff_pin: StaffPin, now: datetime) -> None:
    """Clears the PIN's own count; the terminal's stays (see the module's docstring)."""
    staff_pin.last_used_at = now
    if staff_pin.failed_attempts:
        staff_pin.failed_attempts, staff_pin.failures_since = 0, None


def _remaining_attempts(settings: Settings, guard: PinGuard | None, staff_pin: StaffPin | None, now: datetime) -> int:
    used = [0]
    for counter in (guard, staff_pin):
        if counter is not None and not _count_is_over(counter, settings, now):
            used.append(counter.failed_attempts)
    return max(0, settings.pin_max_attempts - max(used) - 1)


def _count_is_over(counter: PinGuard | StaffPin, settings: Settings, now: datetime) -> bool:
    """Whether the counter's failures no longer count: its lock has expired, or its window has passed."""
    if counter.locked_until is not None:
        return counter.locked_until <= now
    window_start = now - timedelta(minutes=settings.pin_lockout_minutes)
    return counter.failures_since is None or counter.failures_since <= window_start


def _record_failure_after_rollback(ctx: Context, program: LoyaltyProgram, pin_id: int | None) -> None:
    settings, now, terminal = ctx.settings, ctx.clock.now(), _terminal(ctx)
    # Plain values, not the ORM object: the rollback expires `program` and closing detaches it.
    program_id, vendor_id = program.id, program.vendor_id

    async def record(session: AsyncSession) -> None:
        await _count_failure_for_terminal(session, settings, program_id, vendor_id, terminal, now)
        if pin_id is not None:
            await _count_failure_for_pin(session, settings, pin_id, now)

    after_rollback(ctx.session, record)


async def _count_failure_for_terminal(
    session: AsyncSession, settings: Settings, program_id: int, vendor_id: int, terminal: str, now: datetime
) -> None:
    await session.execute(
        insert_ignoring_conflict(
            session,
            PinGuard.__table__,  # type: ignore[arg-type]
            {
                "vendor_id": vendor_id,
                "program_id": program_id,
                "terminal": terminal,
                "failed_attempts": 0,
            },
        )
    )
    guard = await session.scalar(
        select(PinGuard).where(PinGuard.program_id == program_id, PinGuard.terminal == terminal).with_for_update()
    )
    assert guard is not None
    _count_failure(guard, settings, now)


async def _count_failure_for_pin(session: AsyncSession, settings: Settings, pin_id: int, now: datetime) -> None:
    staff_pin = await session.scalar(select(StaffPin).where(StaffPin.id == pin_id).with_for_update())
    if staff_pin is not None:
        _count_failure(staff_pin, settings, now)


def _count_failure(counter: PinGuard | StaffPin, settings: Settings, now: datetime) -> None:
    """One more failure; the lock starts at the configured count within one window. An expired lock
    or a passed window starts a new count."""
    if _count_is_over(counter, settings, now):
        counter.failed_attempts, counter.locked_until, counter.failures_since = 0, None, now
    counter.failed_attempts += 1
    if counter.failed_attempts >= settings.pin_max_attempts:
        counter.locked_until = now + timedelta(minutes=settings.pin_lockout_minutes)
