from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.models.base import Base, BigId, UTCDateTime


class GoogleWalletClass(Base):
    """A programme's LoyaltyClass in Google Wallet (WALLET.md, "Google Wallet"), as the worker last wrote it.

    `class_id` is `{issuer id}.p{program id}`. `synced_fields` holds the top-level fields as last
    written ({} before the first write), so the worker inserts a class once and, after a programme
    change, patches only what differs. `review_status` is Google's answer to the last write.
    """

    __tablename__ = "google_wallet_classes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("loyalty_programs.id"), unique=True)
    class_id: Mapped[str] = mapped_column(String(200), unique=True)
    synced_fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_status: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
