from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.models.base import Base, BigId, UTCDateTime


class IdempotencyRecord(Base):
    """The first successful answer to a write sent with an Idempotency-Key, replayed on repeats.

    `scope` is `vendor:<id>` for vendor writes and `program:<id>` for public enrolment.
    """

    __tablename__ = "idempotency_records"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    vendor_id: Mapped[int | None] = mapped_column(Integer)
    scope: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(255))
    request_fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("scope", "key"),
        Index("ix_idempotency_records_created_at", "created_at"),
    )
