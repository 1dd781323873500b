from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.models.base import Base, BigId, UTCDateTime


class StaffPin(Base):
    """A staff member's PIN for one programme.

    `pin_hash` is bcrypt. `pin_lookup` is an HMAC of the PIN under the server secret: it finds the one
    candidate for a PIN typed without `staff_pin_id` (so a check costs one bcrypt, whatever the
    number of staff) and enforces "unique within a programme". A deleted PIN keeps its row for the
    ledger, with `pin_lookup` cleared so the digits can be used again.
    """

    __tablename__ = "staff_pins"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id"))
    program_id: Mapped[int] = mapped_column(ForeignKey("loyalty_programs.id"))
    name: Mapped[str] = mapped_column(String(200))
    pin_hash: Mapped[str] = mapped_column(String(100))
    pin_lookup: Mapped[str | None] = mapped_column(String(64))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The first failure of the current counting window (LOYALTY_PIN_LOCKOUT_MINUTES long).
    failures_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("program_id", "pin_lookup"),
        Index("ix_staff_pins_vendor_id", "vendor_id"),
    )
