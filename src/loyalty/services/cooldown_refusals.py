"""Stamps refused during a card's cooldown, kept as evidence for the dashboard's anomalies (PAGES.md,
"Anomalies": a card stamped from two terminals within its cooldown window, refused attempts).

A refused stamp rolls back with its request, so the refusal is written after the rollback, in a transaction
of its own on the same connection (`db.after_rollback`, as a wrong PIN is counted). Only a paired counter
terminal's refusals are kept: the anomaly compares terminals. Rows older than KEPT_DAYS are deleted by
housekeeping; the anomalies read the last 7 days.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, insert
from sqlalchemy.ext.asyncio import AsyncSession

from loyalty.db import after_rollback
from loyalty.models import CooldownRefusal, LoyaltyCard, StaffPin
from loyalty.services.context import Context

KEPT_DAYS = 30


def record_after_rollback(ctx: Context, card: LoyaltyCard, staff_pin: StaffPin | None, now: datetime) -> None:
    """Keeps this refusal once the request's transaction has rolled back, when a paired terminal asked
    (ctx.actor.terminal_id). Raises nothing."""
    terminal_id = ctx.actor.terminal_id if ctx.actor else None
    if terminal_id is None:
        return
    # Plain values, not the ORM objects: the rollback expires them.
    row = {
        "vendor_id": card.vendor_id,
        "card_id": card.id,
        "terminal_id": terminal_id,
        "staff_pin_id": staff_pin.id if staff_pin else None,
        "refused_at": now,
    }

    async def record(session: AsyncSession) -> None:
        await session.execute(insert(CooldownRefusal).values(**row))

    after_rollback(ctx.session, record)


async def purge_old(ctx: Context) -> int:
    """Deletes the refusals older than KEPT_DAYS (housekeeping). Returns how many. Raises nothing."""
    result = await ctx.session.execute(
        delete(CooldownRefusal).where(CooldownRefusal.refused_at < ctx.clock.now() - timedelta(days=KEPT_DAYS))
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
