"""Vendors' running totals (models/vendor_totals.py): counted as cards and entries are written, and
recomputed from the cards and the ledger on demand (`loyalty db rebuild-totals`), for instance
after data was loaded with SQL behind the service's back."""

from __future__ import annotations

from sqlalchemy import delete, func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from loyalty.models import LoyaltyCard, LoyaltyTransaction, Vendor, VendorTotals


async def count_new_card(session: AsyncSession, vendor_id: int) -> None:
    await session.execute(
        update(VendorTotals).where(VendorTotals.vendor_id == vendor_id).values(cards=VendorTotals.cards + 1)
    )


async def rebuild(session: AsyncSession) -> int:
    """Recomputes every vendor's totals; returns the number of vendors."""
    cards = (
        select(
            LoyaltyCard.vendor_id,
            func.count().label("cards"),
            *[func.sum(getattr(LoyaltyCard, card)).label(total) for card, total in VendorTotals.FOLLOWS.items()],
        )
        .group_by(LoyaltyCard.vendor_id)
        .subquery()
    )
    entries = (
        select(LoyaltyTransaction.vendor_id, func.count().label("entries"))
        .group_by(LoyaltyTransaction.vendor_id)
        .subquery()
    )
    totals = select(
        Vendor.id,
        func.coalesce(cards.c.cards, 0),
        func.coalesce(entries.c.entries, 0),
        *[func.coalesce(cards.c[total], literal(0)) for total in VendorTotals.FOLLOWS.values()],
    ).select_from(
        Vendor.__table__.outerjoin(cards, cards.c.vendor_id == Vendor.id).outerjoin(
            entries, entries.c.vendor_id == Vendor.id
        )
    )
    columns = ["vendor_id", "cards", "entries", *VendorTotals.FOLLOWS.values()]
    await session.execute(delete(VendorTotals))
    await session.execute(insert(VendorTotals).from_select(columns, totals))
    return await session.scalar(select(func.count()).select_from(VendorTotals)) or 0
