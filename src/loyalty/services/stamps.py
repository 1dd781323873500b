"""Stamping and redeeming the stamp card, with every anti-fraud rule checked on the locked card.

Order matters: the PIN is verified (bcrypt, slow) before the card row is locked, so the lock is held
only for the few statements that read the locked state, check the rules and write the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import cast

from pydantic import Field
from sqlalchemy import Date, Integer, Table, bindparam, case, or_

from loyalty.clock import local_day, local_day_bounds
from loyalty.errors import DailyStampLimit, InsufficientStamps, StampCooldown, StampsNotEnabled
from loyalty.models import LoyaltyCard, LoyaltyProgram, LoyaltyTransaction, StaffPin, TransactionType
from loyalty.models.base import UTCDateTime
from loyalty.services import cooldown_refusals, ledger
from loyalty.services.cards import CardRef, lock_card
from loyalty.services.context import Context
from loyalty.services.pins import StaffApproval, verify_staff_pin
from loyalty.services.programs import active_program_and_timezone


class StampRequest(CardRef, StaffApproval):
    notes: str | None = Field(None, max_length=1000)


@dataclass(frozen=True)
class StampOutcome:
    entry: LoyaltyTransaction
    card: LoyaltyCard
    program: LoyaltyProgram
    stamps_today: int
    next_stamp_available_at: datetime | None

    @property
    def reward_earned(self) -> bool:
        return self.card.stamp_count >= self.program.stamps_target

    @property
    def stamps_until_reward(self) -> int:
        return max(0, self.program.stamps_target - self.card.stamp_count)

    @property
    def stamps_remaining_today(self) -> int:
        return max(0, self.program.max_daily_stamps - self.stamps_today)


@dataclass(frozen=True)
class StampReadiness:
    """What the counter sees before stamping: stamps given today (the vendor's local day) and, during a
    cooldown, when the next stamp is allowed (UTC)."""

    stamps_today: int
    next_stamp_at: datetime | None


def stamp_readiness(program: LoyaltyProgram, card: LoyaltyCard, now: datetime, timezone: str) -> StampReadiness:
    """The card's state against the stamp rules at `now`, by the same rules `add_stamp` applies. Raises nothing."""
    cooldown_ends = _cooldown_ends(program, card)
    next_stamp_at = cooldown_ends if cooldown_ends is not None and now < cooldown_ends else None
    return StampReadiness(_stamps_given_on(card, local_day(now, timezone)), next_stamp_at)


@dataclass(frozen=True)
class RedeemOutcome:
    entry: LoyaltyTransaction
    card: LoyaltyCard
    program: LoyaltyProgram


async def _stamp_program(ctx: Context) -> tuple[LoyaltyProgram, str]:
    program, timezone = await active_program_and_timezone(ctx)
    if not program.collects_stamps:
        raise StampsNotEnabled(program.id)
    return program, timezone


_CARDS = cast(Table, LoyaltyCard.__table__)
_TODAY = bindparam("rule_today", type_=Date())
_GIVEN_TODAY = case((_CARDS.c.stamps_today_date == _TODAY, _CARDS.c.stamps_today), else_=0)  # _stamps_given_on
# add_stamp's rules as SQL on the card's row (ledger.append_if): the cooldown (`_check_cooldown`; the bound
# `rule_cooldown_start` is now minus the cooldown, or now without one) and the daily limit, then its changes.
_STAMP = ledger.CardRule(
    allowed=(
        or_(
            _CARDS.c.last_stamp_at.is_(None),
            _CARDS.c.last_stamp_at <= bindparam("rule_cooldown_start", type_=UTCDateTime()),
        ),
        bindparam("rule_max_daily", type_=Integer()) > _GIVEN_TODAY,
    ),
    changes={
        "total_stamps_earned": _CARDS.c.total_stamps_earned + 1,
        "last_stamp_at": bindparam("rule_now", type_=UTCDateTime()),
        "stamps_today": _GIVEN_TODAY + 1,
        "stamps_today_date": _TODAY,
    },
    totals={"stamps_issued": 1},
)


async def add_stamp(ctx: Context, request: StampRequest) -> StampOutcome:
    """One stamp on the card `request` names, approved by its staff PIN.

    Returns the new ledger entry, the card after it, the programme, the stamps given today (the vendor's local day,
    in its IANA timezone) and when the next stamp is allowed (UTC; None without a cooldown). Raises ProgramNotFound
    (404), ProgramInactive or StampsNotEnabled (400); StaffPinRequired (403) without a PIN the programme requires,
    InvalidStaffPin (403), StaffPinLocked (423); CardNotFound (404: not the vendor's card), CardInactive (400);
    StampCooldown (429, until `last_stamp_at` + `cooldown_minutes`); DailyStampLimit (429, `max_daily_stamps` per
    local day, Retry-After up to the next local midnight). Rules: docs/rules.md, "Stamps" and "A balance change,
    step by step" (DESIGN.md, "Business rules")."""
    program, timezone = await _stamp_program(ctx)
    staff_pin = await verify_staff_pin(ctx, program, request.staff_pin, request.staff_pin_id)
    now = ctx.clock.now()
    today = local_day(now, timezone)
    if at_once := await _stamp_at_once(ctx, program, request, staff_pin, now, today):
        return at_once
    # Not stamped by the one statement: lock the card and check each rule here, to name the refusal.
    card = await lock_card(ctx, program, request)
    _check_cooldown(ctx, program, card, staff_pin, now)
    stamps_today = _stamps_given_on(card, today)
    if stamps_today >= program.max_daily_stamps:
        _, midnight = local_day_bounds(now, timezone)
        raise DailyStampLimit(program.max_daily_stamps, stamps_today, midnight, now)
    card.total_stamps_earned += 1
    card.last_stamp_at = now
    card.stamps_today, card.stamps_today_date = stamps_today + 1, today
    entry = await ledger.append(
        ctx, card, TransactionType.STAMP_EARNED, stamps_delta=1, staff_pin=staff_pin, notes=request.notes
    )
    return _outcome(entry, card, program, now)


async def _stamp_at_once(
    ctx: Context, program: LoyaltyProgram, request: StampRequest, staff_pin: StaffPin | None, now: datetime, today: date
) -> StampOutcome | None:
    """The stamp in one statement, its rules checked by the database (`_STAMP`, `ledger.append_if`); None
    when that path did not stamp (SQLite, or the card is not stampable as it stands)."""
    params = {
        "rule_today": today,
        "rule_cooldown_start": now - timedelta(minutes=program.cooldown_minutes),
        "rule_max_daily": program.max_daily_stamps,
        "rule_now": now,
    }
    written = await ledger.append_if(
        ctx,
        _STAMP,
        params,
        request,
        program.id,
        TransactionType.STAMP_EARNED,
        stamps_delta=1,
        staff_pin=staff_pin,
        notes=request.notes,
    )
    return None if written is None else _outcome(*written, program, now)


def _outcome(entry: LoyaltyTransaction, card: LoyaltyCard, program: LoyaltyProgram, now: datetime) -> StampOutcome:
    return StampOutcome(
        entry=entry,
        card=card,
        program=program,
        stamps_today=card.stamps_today,
        next_stamp_available_at=now + timedelta(minutes=program.cooldown_minutes) if program.cooldown_minutes else None,
    )


def _cooldown_ends(program: LoyaltyProgram, card: LoyaltyCard) -> datetime | None:
    if not program.cooldown_minutes or card.last_stamp_at is None:
        return None
    return card.last_stamp_at + timedelta(minutes=program.cooldown_minutes)


def _check_cooldown(
    ctx: Context, program: LoyaltyProgram, card: LoyaltyCard, staff_pin: StaffPin | None, now: datetime
) -> None:
    cooldown_ends = _cooldown_ends(program, card)
    if cooldown_ends is not None and now < cooldown_ends:
        cooldown_refusals.record_after_rollback(ctx, card, staff_pin, now)  # evidence for the anomalies
        raise StampCooldown(cooldown_ends, program.cooldown_minutes, now)


def _stamps_given_on(card: LoyaltyCard, day: date) -> int:
    """Stamps given on the vendor's local `day`, read from the locked card row. A voided stamp still
    counts: the quota is about how often the counter stamps, and a void must not reopen it."""
    return card.stamps_today if card.stamps_today_date == day else 0


async def redeem_stamps(ctx: Context, request: StampRequest) -> RedeemOutcome:
    """The stamp card's reward: takes `stamps_target` stamps off the card (extra stamps carry over).

    Returns the new ledger entry (its `reward_description` the programme's), the card and the programme. Raises
    ProgramNotFound (404), ProgramInactive or StampsNotEnabled (400); StaffPinRequired (403) without a PIN the
    programme requires, InvalidStaffPin (403), StaffPinLocked (423); CardNotFound (404: not the vendor's card),
    CardInactive (400); InsufficientStamps (400) below `stamps_target`. Rules: docs/rules.md, "Stamps"."""
    program, _ = await _stamp_program(ctx)
    staff_pin = await verify_staff_pin(ctx, program, request.staff_pin, request.staff_pin_id)
    card = await lock_card(ctx, program, request)
    if card.stamp_count < program.stamps_target:
        raise InsufficientStamps(card.stamp_count, program.stamps_target)
    card.stamps_redeemed += 1
    entry = await ledger.append(
        ctx,
        card,
        TransactionType.STAMP_REDEEMED,
        stamps_delta=-program.stamps_target,
        staff_pin=staff_pin,
        reward_description=program.stamps_reward_description,
        notes=request.notes,
    )
    return RedeemOutcome(entry=entry, card=card, program=program)
