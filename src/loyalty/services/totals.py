"""Vendors' running totals (models/vendor_totals.py): counted as cards and entries are written, and
recomputed from the cards and the ledger on demand (`loyalty db rebuild-totals`), for instance
after data was loaded with SQL behind the service's back."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from loyalty.models import LoyaltyCard, LoyaltyTransaction, Vendor, VendorTotals
from loyalty.models.vendor_totals import SLOTS


async def count_new_card(session: AsyncSession, vendor_id: int, card_id: int) -> None:
    """One more card in the vendor's running totals (the card's slot: `card_id` % SLOTS), in the caller's
    transaction. Raises nothing."""
    await session.execute(
        update(VendorTotals)
        .where(VendorTotals.vendor_id == vendor_id, VendorTotals.slot == card_id % SLOTS)
        .values(cards=VendorTotals.cards + 1)
    )


async def rebuild(session: AsyncSession) -> int:
    """Recomputes every vendor's totals, slot by slot, from the cards and the ledger (`loyalty db
    rebuild-totals`); returns the number of vendors. Raises nothing."""
    vendor_ids = (await session.scalars(select(Vendor.id))).all()
    rows: dict[tuple[int, int], dict[str, Any]] = {
        (vendor_id, slot): {"vendor_id": vendor_id, "slot": slot, "cards": 0, "entries": 0}
        | dict.fromkeys(VendorTotals.FOLLOWS.values(), 0)
        for vendor_id in vendor_ids
        for slot in range(SLOTS)
    }
    card_slot = LoyaltyCard.id % SLOTS
    by_cards = await session.execute(
        select(
            LoyaltyCard.vendor_id,
            card_slot,
            func.count(),
            *[func.sum(getattr(LoyaltyCard, card_total)) for card_total in VendorTotals.FOLLOWS],
        ).group_by(LoyaltyCard.vendor_id, card_slot)
    )
    for vendor_id, slot, cards, *sums in by_cards:
        rows[(vendor_id, slot)].update(cards=cards, **dict(zip(VendorTotals.FOLLOWS.values(), sums, strict=True)))
    entry_slot = LoyaltyTransaction.card_id % SLOTS
    by_entries = await session.execute(
        select(LoyaltyTransaction.vendor_id, entry_slot, func.count()).group_by(
            LoyaltyTransaction.vendor_id, entry_slot
        )
    )
    for vendor_id, slot, entries in by_entries:
        rows[(vendor_id, slot)]["entries"] = entries
    await session.execute(delete(VendorTotals))
    if rows:
        await session.execute(insert(VendorTotals), list(rows.values()))
    return len(vendor_ids)
