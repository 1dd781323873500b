"""Points: earned from the purchase amount, spent on the programme's catalogue rewards."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

from pydantic import Field
from sqlalchemy import select

from loyalty.errors import InsufficientPoints, InvalidReward, OrderAlreadyEarned, PointsNotEnabled
from loyalty.models import LoyaltyCard, LoyaltyProgram, LoyaltyTransaction, OrderReference, TransactionType
from loyalty.services import ledger
from loyalty.services.cards import CardRef, lock_card
from loyalty.services.context import Context
from loyalty.services.pins import StaffApproval, verify_staff_pin
from loyalty.services.programs import MAX_REWARD_ID, get_active_program
from loyalty.services.upserts import insert_ignoring_conflict

MAX_PURCHASE_CENTS = 100_000_000  # one million euros: anything above is a typo, not a purchase


class EarnRequest(CardRef, StaffApproval):
    purchase_amount_cents: int = Field(gt=0, le=MAX_PURCHASE_CENTS)
    order_reference: str | None = Field(
        None, min_length=1, max_length=200, description="The till's receipt: it earns once per vendor (409 after)."
    )
    notes: str | None = Field(None, max_length=1000)


class PointsRedeemRequest(CardRef, StaffApproval):
    reward_id: int = Field(ge=1, le=MAX_REWARD_ID)
    notes: str | None = Field(None, max_length=1000)


@dataclass(frozen=True)
class PointsOutcome:
    entry: LoyaltyTransaction
    card: LoyaltyCard
    program: LoyaltyProgram


def points_for(purchase_amount_cents: int, points_per_euro: Decimal) -> int:
    """floor(cents × points_per_euro / 100), in exact decimal arithmetic (docs/rules.md, "Points";
    DESIGN.md, "Business rules")."""
    points = Decimal(purchase_amount_cents) * Decimal(points_per_euro) / 100
    return int(points.to_integral_value(rounding=ROUND_FLOOR))


async def _points_program(ctx: Context) -> LoyaltyProgram:
    program = await get_active_program(ctx)
    if not program.collects_points:
        raise PointsNotEnabled(program.id)
    return program


async def earn_points(ctx: Context, request: EarnRequest) -> PointsOutcome:
    """Points for a purchase of `purchase_amount_cents` (cents): floor(cents × points_per_euro / 100).

    Returns the new ledger entry, the card after it and the programme. A receipt (`order_reference`) earns once per
    vendor. Raises ProgramNotFound (404), ProgramInactive or PointsNotEnabled (400); StaffPinRequired (403) without
    a PIN the programme requires, InvalidStaffPin (403), StaffPinLocked (423); CardNotFound (404: not the vendor's
    card), CardInactive (400); OrderAlreadyEarned (409, naming the entry that earned). Rules: docs/rules.md,
    "Points"."""
    program = await _points_program(ctx)
    staff_pin = await verify_staff_pin(ctx, program, request.staff_pin, request.staff_pin_id)
    card = await lock_card(ctx, program, request)
    points = points_for(request.purchase_amount_cents, program.points_per_euro)
    card.total_points_earned += points
    entry = await ledger.append(
        ctx,
        card,
        TransactionType.POINTS_EARNED,
        points_delta=points,
        staff_pin=staff_pin,
        purchase_amount_cents=request.purchase_amount_cents,
        order_reference=request.order_reference,
        notes=request.notes,
    )
    if request.order_reference is not None:
        await _claim_receipt(ctx, request.order_reference, entry.id)
    return PointsOutcome(entry=entry, card=card, program=program)


async def _claim_receipt(ctx: Context, order_reference: str, transaction_id: int) -> None:
    """Records that the receipt has earned; OrderAlreadyEarned (409) when it had already, on any card.
    A concurrent earn of the same receipt waits on the unique index until this one's transaction ends."""
    claimed = await ctx.session.execute(
        insert_ignoring_conflict(
            ctx.session,
            OrderReference.__table__,  # type: ignore[arg-type]
            {"vendor_id": ctx.vendor_id, "order_reference": order_reference, "transaction_id": transaction_id},
        )
    )
    if claimed.rowcount == 1:  # type: ignore[attr-defined]
        return
    first = await ctx.session.scalar(
        select(OrderReference.transaction_id).where(
            OrderReference.vendor_id == ctx.vendor_id, OrderReference.order_reference == order_reference
        )
    )
    raise OrderAlreadyEarned(order_reference, int(first or 0))


async def redeem_points(ctx: Context, request: PointsRedeemRequest) -> PointsOutcome:
    """Spends points on the catalogue reward `reward_id`: its `points_required` come off the balance.

    Returns the new ledger entry (with the reward's id and name), the card and the programme. Raises ProgramNotFound
    (404), ProgramInactive or PointsNotEnabled (400); InvalidReward (400, unknown or inactive; checked before the
    PIN); StaffPinRequired (403) without a PIN the programme requires, InvalidStaffPin (403), StaffPinLocked (423);
    CardNotFound (404: not the vendor's card), CardInactive (400); InsufficientPoints (400). Rules: docs/rules.md,
    "Points"."""
    program = await _points_program(ctx)
    reward = program.reward(request.reward_id)
    if reward is None or not reward.get("is_active", True):
        raise InvalidReward(request.reward_id)
    staff_pin = await verify_staff_pin(ctx, program, request.staff_pin, request.staff_pin_id)
    card = await lock_card(ctx, program, request)
    required = int(reward["points_required"])
    if card.points_balance < required:
        raise InsufficientPoints(card.points_balance, required)
    card.total_points_redeemed += required
    entry = await ledger.append(
        ctx,
        card,
        TransactionType.POINTS_REDEEMED,
        points_delta=-required,
        staff_pin=staff_pin,
        reward_id=request.reward_id,
        reward_description=reward["name"],
        notes=request.notes,
    )
    return PointsOutcome(entry=entry, card=card, program=program)
