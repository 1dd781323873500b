from __future__ import annotations

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.models.base import Base, BigId


class OrderReference(Base):
    """A till receipt (`order_reference`) that has earned points: at most once per vendor, whatever the
    card (docs/rules.md). Unlike the ledger it is mutable: voiding the entry that earned on it deletes
    the row, which frees the receipt, and erasing the customer deletes it with the entry's free text."""

    __tablename__ = "order_references"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id"))
    order_reference: Mapped[str] = mapped_column(String(200))
    transaction_id: Mapped[int] = mapped_column(ForeignKey("loyalty_transactions.id"))

    __table_args__ = (
        UniqueConstraint("vendor_id", "order_reference"),
        Index("ix_order_references_transaction_id", "transaction_id"),
    )
