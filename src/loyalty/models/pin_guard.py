from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.models.base import Base, BigId, UTCDateTime


class PinGuard(Base):
    """Failed PIN checks counted per calling terminal (its API key) and programme.

    Every failure counts here, with or without `staff_pin_id`, so a terminal that is locked out
    stays locked whichever PIN id it names next.
    """

    __tablename__ = "pin_guards"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id"))
    program_id: Mapped[int] = mapped_column(ForeignKey("loyalty_programs.id"))
    terminal: Mapped[str] = mapped_column(String(100))
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The first failure of the current counting window (LOYALTY_PIN_LOCKOUT_MINUTES long).
    failures_since: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("program_id", "terminal"),)

    @staticmethod
    def paired_terminal(terminal_id: int) -> str:
        """`terminal` for a paired counter terminal (`terminals.id`); an API key is `key:<id>`, a caller
        with neither `ip:<address>` (services/context.py, `Actor.terminal`)."""
        return f"terminal:{terminal_id}"
