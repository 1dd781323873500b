from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.models.base import Base, BigId, UTCDateTime


class ApiKey(Base):
    """A bearer key. `vendor_id` NULL means an admin key.

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

    __table_args__ = (Index("ix_api_keys_vendor_id_created_at", "vendor_id", "created_at"),)

    @property
    def is_admin(self) -> bool:
        return self.vendor_id is None
