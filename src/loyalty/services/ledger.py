"""The ledger: the one place a card's balance changes.

Callers hold the card row locked (`cards.lock_card`). `append` moves the balances by the entry's
deltas, appends exactly one `loyalty_transactions` row carrying the balances after it, moves the
card's pass version and queues the wallet updates, all in the caller's transaction.
"""

from __future__ import annotations

from typing import Any

from loyalty.models import LoyaltyCard, LoyaltyTransaction, StaffPin
from loyalty.services.cards import bump_pass_version
from loyalty.services.context import Context
from loyalty.services.outbox import queue_wallet_updates


async def append(
    ctx: Context,
    card: LoyaltyCard,
    transaction_type: str,
    *,
    stamps_delta: int = 0,
    points_delta: int = 0,
    staff_pin: StaffPin | None = None,
    **fields: Any,
) -> LoyaltyTransaction:
    now = ctx.clock.now()
    card.stamp_count += stamps_delta
    card.points_balance += points_delta
    bump_pass_version(card, now)
    actor = ctx.actor
    entry = LoyaltyTransaction(
        vendor_id=card.vendor_id,
        program_id=card.program_id,
        card_id=card.id,
        staff_pin_id=staff_pin.id if staff_pin else None,
        transaction_type=transaction_type,
        stamps_delta=stamps_delta,
        points_delta=points_delta,
        stamps_balance_after=card.stamp_count,
        points_balance_after=card.points_balance,
        client_ip=actor.client_ip if actor else None,
        user_agent=(actor.user_agent or "")[:500] or None if actor else None,
        transaction_at=now,
        **fields,
    )
    ctx.session.add(entry)
    await queue_wallet_updates(ctx, card)
    await ctx.session.flush()
    return entry
