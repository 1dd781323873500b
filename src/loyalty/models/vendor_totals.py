from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from sqlalchemy import BigInteger, ForeignKey, SmallInteger
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.models.base import Base

SLOTS = 8


class VendorTotals(Base):
    """One vendor's running totals, so platform figures sum a few rows per vendor instead of scanning
    every card and ledger entry.

    Striped: each vendor has SLOTS rows and a card counts in row `card_id % SLOTS`. An update locks
    its row until commit, so with one row per vendor every stamp of a vendor would wait for the one
    before it; with eight, stamps on different cards rarely meet.

    Kept exact by construction: the ledger moves them by the card's own changes in the same
    statement as the entry, enrolment counts the card in its transaction. Invariant, for each vendor:
    summed over its slots, `cards` = its number of cards, `entries` = its number of ledger rows, and each
    other column = the sum of the same total over its cards. `loyalty db rebuild-totals` recomputes them.
    """

    __tablename__ = "vendor_totals"

    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id"), primary_key=True)
    slot: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    cards: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    entries: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    stamps_issued: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    stamps_redeemed: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    points_issued: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    points_redeemed: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    # Which card total each running total follows (the ledger applies the card's change to it).
    FOLLOWS: ClassVar[Mapping[str, str]] = {
        "total_stamps_earned": "stamps_issued",
        "stamps_redeemed": "stamps_redeemed",
        "total_points_earned": "points_issued",
        "total_points_redeemed": "points_redeemed",
    }
