from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.models.base import Base, BigId, UTCDateTime

ADMIN_SCOPE = "admin"
OWNER_SCOPE = "owner"
COUNTER_SCOPE = "counter"


class ApiKey(Base):
    """A bearer key. `vendor_id` NULL means an admin key.

    `scope`: `admin` (an admin key), `owner` (a vendor's whole API) or `counter` (what a counter
    terminal does: look cards up, enrol, stamp, redeem, earn, void; never manage PINs, the programme
    or customers' data). A terminal that guesses PINs cannot lift its own lockout (docs/rules.md).

    Keys are 256-bit random strings, so a plain SHA-256 is the right hash: it cannot be brute-forced
    and it lets us find the key with one indexed lookup (bcrypt would need a scan).
    """

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    vendor_id: Mapped[int | None] = mapped_column(ForeignKey("vendors.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    key_prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    scope: Mapped[str] = mapped_column(String(16))

    __table_args__ = (
        Index("ix_api_keys_vendor_id_created_at", "vendor_id", "created_at"),
        CheckConstraint(
            "(vendor_id IS NULL AND scope = 'admin') OR (vendor_id IS NOT NULL AND scope IN ('owner', 'counter'))",
            name="scope_matches_vendor",
        ),
    )

    @property
    def is_admin(self) -> bool:
        return self.vendor_id is None
