from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, String, true
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.models.base import Base, BigId, UTCDateTime


class Vendor(Base):
    """A café, bakery or shop: the tenant. Every other table carries its `vendor_id`.

    `is_active` false: an operator switched the vendor off. Its API keys are refused at once (403, the
    caller's identification checks it on every request), its public programme is not found, and the
    admin still sees and can reactivate it; nothing else is changed, so reactivating restores it all."""

    __tablename__ = "vendors"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    timezone: Mapped[str] = mapped_column(String(64))
    default_locale: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
