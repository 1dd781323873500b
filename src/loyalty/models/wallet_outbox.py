from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.models.base import Base, BigId, UTCDateTime


class OutboxStatus(StrEnum):
    """Where an outbox row is: `pending` (due at `due_at`), `sending` (claimed by a worker until
    `claimed_until`), `sent` (kept a day for the statistics), `parked` (given up; an admin may retry)."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    PARKED = "parked"


class WalletOutbox(Base):
    """A pending wallet update (APNs push; Google PATCH of an object, or of a programme's class),
    written in the same transaction as the change and sent after commit by `loyalty worker`. At most
    one row per card (or programme) and wallet is pending: later changes move it (coalescing,
    services/outbox.py); migration 0009 explains the lifecycle."""

    __tablename__ = "wallet_outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id"))
    # A card's pass changed (card_id), or a programme's Google Wallet class did (program_id, card_id None).
    card_id: Mapped[int | None] = mapped_column(ForeignKey("loyalty_cards.id"))
    program_id: Mapped[int | None] = mapped_column(ForeignKey("loyalty_programs.id"))
    provider: Mapped[str] = mapped_column(String(16))
    pass_version: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    apns_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index(
            "uq_wallet_outbox_pending_card_provider",
            "card_id",
            "provider",
            unique=True,
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        Index(
            "uq_wallet_outbox_pending_program_provider",
            "program_id",
            "provider",
            unique=True,
            postgresql_where=text("status = 'pending' AND card_id IS NULL"),
            sqlite_where=text("status = 'pending' AND card_id IS NULL"),
        ),
        CheckConstraint("(card_id IS NULL) <> (program_id IS NULL)", name="card_or_program"),
        Index(
            "ix_wallet_outbox_due",
            "due_at",
            postgresql_where=text("status IN ('pending', 'sending')"),
            sqlite_where=text("status IN ('pending', 'sending')"),
        ),
        Index("ix_wallet_outbox_status_sent_at", "status", "sent_at"),
    )
