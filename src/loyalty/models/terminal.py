from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.models.base import Base, BigId, UTCDateTime


class Terminal(Base):
    """A counter device of one vendor: a browser paired with a one-time code (PAGES.md, "Authentication").

    The pairing code (8 digits, 10 minutes) is stored as an HMAC under the server secret, like a PIN's
    fingerprint: a code is short, so a plain hash of it would be reversed by trying all 10⁸. It is cleared
    once used. Wrong PINs sent without `staff_pin_id` count against the terminal (`pin_guards.terminal` =
    `terminal:<id>`); its ledger entries name it (`loyalty_transactions.terminal_id`). A revoked terminal
    keeps its row for the ledger.
    """

    __tablename__ = "terminals"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id"))
    name: Mapped[str] = mapped_column(String(100))
    pairing_code_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    pairing_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_terminals_vendor_id", "vendor_id"),)
