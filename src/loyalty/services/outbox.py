"""Wallet updates leave the process only after commit: changes queue rows here, `loyalty worker`
sends them (APNs pushes, Google PATCHes) with `FOR UPDATE SKIP LOCKED` so many workers can drain."""

from __future__ import annotations

from loyalty.models import LoyaltyCard, WalletOutbox
from loyalty.services.context import Context


async def queue_wallet_updates(ctx: Context, card: LoyaltyCard) -> None:
    """Adds one `pending` outbox row per configured wallet provider (`LOYALTY_WALLET_PROVIDERS`) for the
    card's current pass version, in the caller's transaction: an update leaves the process only if the
    change commits (DESIGN.md, "Wallets"). Raises nothing."""
    now = ctx.clock.now()
    for provider in ctx.settings.wallet_provider_list:
        ctx.session.add(
            WalletOutbox(
                vendor_id=card.vendor_id,
                card_id=card.id,
                provider=provider,
                pass_version=card.updated_at,
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
