from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.models.base import Base, BigId, UTCDateTime


class CooldownRefusal(Base):
    """A stamp refused because the card's cooldown was running (`StampCooldown`): who asked, from where and
    when. The refused request itself rolls back, so this row is written after it, in a transaction of its own.

    It is not a ledger entry (nothing changed) but evidence for the dashboard's "two terminals" anomaly
    (PAGES.md, "Anomalies": a card stamped at one terminal and tried at another within its cooldown, the
    pattern of a colleague stamping a friend's card twice). Housekeeping deletes rows older than
    REFUSALS_KEPT_DAYS (housekeeping.py): the anomalies read the last 7 days only.
    """

    __tablename__ = "cooldown_refusals"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id"))
    card_id: Mapped[int] = mapped_column(ForeignKey("loyalty_cards.id"))
    terminal_id: Mapped[int | None] = mapped_column(ForeignKey("terminals.id"))  # a paired terminal's request
    staff_pin_id: Mapped[int | None] = mapped_column(ForeignKey("staff_pins.id"))  # the PIN that approved it
    refused_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_cooldown_refusals_vendor_id_refused_at", "vendor_id", "refused_at"),)
