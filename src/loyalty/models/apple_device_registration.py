from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.models.base import Base, BigId, UTCDateTime


class AppleDeviceRegistration(Base):
    """A device that holds a card's pass in Apple Wallet and wants pushes when it changes."""

    __tablename__ = "apple_device_registrations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id"))
    card_id: Mapped[int] = mapped_column(ForeignKey("loyalty_cards.id"), index=True)
    # Apple documents neither length: stored as text of any length (WALLET.md).
    device_library_identifier: Mapped[str] = mapped_column(Text)
    push_token: Mapped[str] = mapped_column(Text)
    pass_type_identifier: Mapped[str] = mapped_column(String(200))
    serial_number: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The last push to this device for this pass: when, and APNs' answer ("200", "410 Unregistered").
    last_push_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_push_status: Mapped[str | None] = mapped_column(String(64))

    # Named by hand: the conventional name would pass PostgreSQL's 63-character limit.
    __table_args__ = (
        UniqueConstraint(
            "device_library_identifier",
            "pass_type_identifier",
            "serial_number",
            name="uq_apple_device_registrations_device_pass_serial",
        ),
    )
