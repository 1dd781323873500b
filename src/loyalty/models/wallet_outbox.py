from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.models.base import Base, BigId, UTCDateTime


class WalletOutbox(Base):
    """A pending wallet update (APNs push, Google PATCH), written in the same transaction as the
    card change and sent after commit by `loyalty worker` (`FOR UPDATE SKIP LOCKED`)."""

    __tablename__ = "wallet_outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id"))
    card_id: Mapped[int] = mapped_column(ForeignKey("loyalty_cards.id"))
    provider: Mapped[str] = mapped_column(String(16))
    pass_version: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_wallet_outbox_status_next_attempt_at", "status", "next_attempt_at"),)
