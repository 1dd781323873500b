"""Voids: the only correction the append-only ledger allows, a compensating entry.

A void reverses one earlier entry's deltas (and the card's running totals), at most once, and never
takes a balance below zero: a voided stamp that was already spent on a reward cannot be taken back.
"""

from __future__ import annotations

from pydantic import Field
from sqlalchemy import delete, select

from loyalty.errors import TransactionNotFound, TransactionNotVoidable
from loyalty.models import LoyaltyCard, LoyaltyTransaction, OrderReference, TransactionType
from loyalty.services import ledger
from loyalty.services.cards import CardRef, lock_card
from loyalty.services.context import Context
from loyalty.services.pins import StaffApproval, verify_staff_pin
from loyalty.services.programs import get_program


class VoidRequest(StaffApproval):
    reason: str = Field(min_length=1, max_length=1000)


async def void_transaction(ctx: Context, transaction_id: int, request: VoidRequest) -> LoyaltyTransaction:
    """Reverses the vendor's ledger entry `transaction_id` with a compensating `void` entry (its deltas negated, the
    card's running totals moved back, `request.reason` as its notes), which it returns. A voided earn frees its
    receipt (`order_reference`) to earn again. Possible while the programme is paused.

    Raises ProgramNotFound (404), TransactionNotFound (404: none, or another vendor's); TransactionNotVoidable (400:
    `is_void`, `already_voided`, `negative_balance`); StaffPinRequired (403) without a PIN the programme requires,
    InvalidStaffPin (403), StaffPinLocked (423); CardNotFound (404: not the vendor's card), CardInactive (400).
    Rules: docs/rules.md, "Voids" (DESIGN.md: corrections are void entries, the ledger is append-only)."""
    program = await get_program(ctx)  # voids stay possible while a programme is paused
    original = await ctx.session.scalar(
        select(LoyaltyTransaction).where(
            LoyaltyTransaction.id == transaction_id, LoyaltyTransaction.vendor_id == ctx.vendor_id
        )
    )
    if original is None:
        raise TransactionNotFound(transaction_id)
    if original.transaction_type == TransactionType.VOID:
        raise TransactionNotVoidable(transaction_id, TransactionNotVoidable.IS_VOID)
    staff_pin = await verify_staff_pin(ctx, program, request.staff_pin, request.staff_pin_id)
    card = await lock_card(ctx, program, CardRef(card_id=original.card_id))
    # Checked on the locked card: two concurrent voids of one entry are serialised here.
    if await _already_voided(ctx, transaction_id):
        raise TransactionNotVoidable(transaction_id, TransactionNotVoidable.ALREADY_VOIDED)
    if card.stamp_count < original.stamps_delta or card.points_balance < original.points_delta:
        raise TransactionNotVoidable(transaction_id, TransactionNotVoidable.NEGATIVE_BALANCE)
    _reverse_totals(card, original)
    if original.order_reference is not None:  # the receipt may earn again, on the right card say
        await ctx.session.execute(delete(OrderReference).where(OrderReference.transaction_id == original.id))
    return await ledger.append(
        ctx,
        card,
        TransactionType.VOID,
        stamps_delta=-original.stamps_delta,
        points_delta=-original.points_delta,
        staff_pin=staff_pin,
        voids_transaction_id=original.id,
        reward_id=original.reward_id,
        reward_description=original.reward_description,
        notes=request.reason,
    )


async def _already_voided(ctx: Context, transaction_id: int) -> bool:
    found = await ctx.session.scalar(
        select(LoyaltyTransaction.id).where(LoyaltyTransaction.voids_transaction_id == transaction_id)
    )
    return found is not None


def _reverse_totals(card: LoyaltyCard, original: LoyaltyTransaction) -> None:
    match original.transaction_type:
        case TransactionType.STAMP_EARNED:
            card.total_stamps_earned -= original.stamps_delta
        case TransactionType.STAMP_REDEEMED:
            card.stamps_redeemed -= 1
        case TransactionType.POINTS_EARNED:
            card.total_points_earned -= original.points_delta
        case TransactionType.POINTS_REDEEMED:
            card.total_points_redeemed += original.points_delta  # the delta was negative
