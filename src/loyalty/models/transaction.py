from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.i18n import N_
from loyalty.models.base import Base, BigId, UTCDateTime


# The one spelling of the ledger's entry types: the services, the answer schemas, the journal's filter
# and OpenAPI all use this enum (tests/test_enums.py).
class TransactionType(StrEnum):
    """What a ledger entry records: a stamp or points earned or redeemed, or a `void` (a compensating
    entry that reverses an earlier one)."""

    STAMP_EARNED = "stamp_earned"
    STAMP_REDEEMED = "stamp_redeemed"
    POINTS_EARNED = "points_earned"
    POINTS_REDEEMED = "points_redeemed"
    VOID = "void"  # a compensating entry (services/voids.py)


# What a holder reads for each kind of entry (the pass's last visit, the card page's history); translated
# when shown.
TRANSACTION_TYPE_LABELS: dict[str, str] = {
    TransactionType.STAMP_EARNED: N_("Stamp earned"),
    TransactionType.STAMP_REDEEMED: N_("Stamp reward redeemed"),
    TransactionType.POINTS_EARNED: N_("Points earned"),
    TransactionType.POINTS_REDEEMED: N_("Points redeemed"),
    TransactionType.VOID: N_("Correction"),
}


class LoyaltyTransaction(Base):
    """One entry of the append-only ledger (a PostgreSQL trigger rejects UPDATE and DELETE).

    Corrections are new `void` entries pointing at the entry they reverse; the unique index on
    `voids_transaction_id` makes "void at most once" hold even under concurrent requests.
    """

    __tablename__ = "loyalty_transactions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id"))
    program_id: Mapped[int] = mapped_column(ForeignKey("loyalty_programs.id"))
    card_id: Mapped[int] = mapped_column(ForeignKey("loyalty_cards.id"))
    staff_pin_id: Mapped[int | None] = mapped_column(ForeignKey("staff_pins.id"))
    # The paired counter terminal that made the entry (PAGES.md); NULL for an API key's or a page's.
    terminal_id: Mapped[int | None] = mapped_column(ForeignKey("terminals.id"))
    # A TransactionType; unlike programmes' `program_type`, no CHECK keeps it so yet (one needs a migration).
    transaction_type: Mapped[str] = mapped_column(String(20))
    stamps_delta: Mapped[int] = mapped_column(Integer, default=0)
    points_delta: Mapped[int] = mapped_column(BigInteger, default=0)
    stamps_balance_after: Mapped[int] = mapped_column(Integer)
    points_balance_after: Mapped[int] = mapped_column(BigInteger)
    purchase_amount_cents: Mapped[int | None] = mapped_column(BigInteger)
    order_reference: Mapped[str | None] = mapped_column(String(200))
    reward_id: Mapped[int | None] = mapped_column(Integer)
    reward_description: Mapped[str | None] = mapped_column(String(500))
    voids_transaction_id: Mapped[int | None] = mapped_column(ForeignKey("loyalty_transactions.id"), unique=True)
    notes: Mapped[str | None] = mapped_column(Text)
    client_ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    transaction_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_loyalty_transactions_card_id_transaction_at", "card_id", "transaction_at"),
        Index("ix_loyalty_transactions_vendor_id_transaction_at", "vendor_id", "transaction_at"),
    )
