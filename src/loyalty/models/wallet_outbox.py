from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.models.base import Base, BigId, UTCDateTime, one_of
from loyalty.models.user import UserTokenPurpose

# A row names exactly one thing: a card, a programme (card_id NULL), or a person (with a purpose, by mail).
ONE_TARGET = (
    "(card_id IS NOT NULL AND program_id IS NULL AND user_id IS NULL AND purpose IS NULL)"
    " OR (card_id IS NULL AND program_id IS NOT NULL AND user_id IS NULL AND purpose IS NULL)"
    " OR (card_id IS NULL AND program_id IS NULL AND user_id IS NOT NULL AND purpose IS NOT NULL"
    " AND provider = 'mail')"
)


class OutboxStatus(StrEnum):
    """Where an outbox row is: `pending` (due at `due_at`), `sending` (claimed by a worker until
    `claimed_until`), `sent` (kept a day for the statistics), `parked` (given up; an admin may retry)."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    PARKED = "parked"


class WalletOutbox(Base):
    """A pending wallet update (APNs push; Google PATCH of an object, or of a programme's class), or a mail
    (provider `mail`: a card's link, or a person's invitation or password-reset link), written in the same
    transaction as the change and sent after commit by `loyalty worker`. At most one row per card (or
    programme, or person and purpose) and provider is pending: later changes move it (coalescing,
    services/outbox.py); migration 0009 explains the lifecycle, 0013 the people's mail."""

    __tablename__ = "wallet_outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # None only for a platform admin's mail (an admin belongs to no vendor).
    vendor_id: Mapped[int | None] = mapped_column(ForeignKey("vendors.id"))
    # A card's pass changed (card_id), or a programme's Google Wallet class did (program_id), or a person
    # who signs in is to receive a one-time link (user_id and purpose, provider `mail`): exactly one of the three.
    card_id: Mapped[int | None] = mapped_column(ForeignKey("loyalty_cards.id"))
    program_id: Mapped[int | None] = mapped_column(ForeignKey("loyalty_programs.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The link's kind (UserTokenPurpose: `invitation` or `reset`). The link itself is made when the mail is
    # sent (worker/mail.py), so no link's secret is ever stored.
    purpose: Mapped[str | None] = mapped_column(String(16))
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
        Index(
            "uq_wallet_outbox_pending_user_purpose",
            "user_id",
            "purpose",
            unique=True,
            postgresql_where=text("status = 'pending' AND user_id IS NOT NULL"),
            sqlite_where=text("status = 'pending' AND user_id IS NOT NULL"),
        ),
        CheckConstraint(ONE_TARGET, name="one_target"),
        CheckConstraint(f"purpose IS NULL OR {one_of('purpose', UserTokenPurpose)}", name="purpose"),
        Index(
            "ix_wallet_outbox_due",
            "due_at",
            postgresql_where=text("status IN ('pending', 'sending')"),
            sqlite_where=text("status IN ('pending', 'sending')"),
        ),
        Index("ix_wallet_outbox_status_sent_at", "status", "sent_at"),
    )
