from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.models.base import Base, BigId, UTCDateTime


class ProgramLogo(Base):
    """A programme's uploaded logo (migration 0014), as re-encoded by `services/logos.py`: a PNG of at most
    660×660 pixels with its transparency, never the bytes the vendor sent. The wallets' pictures are drawn
    from it (`wallet/images.py`); it is served at `/wallet/img/logos/{digest}/logo.png`, an immutable URL, since a
    new picture has a new digest (SHA-256 of `png`, 64 hex digits). One per programme: a new upload replaces it.
    """

    __tablename__ = "program_logos"

    program_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("loyalty_programs.id"), primary_key=True, autoincrement=False
    )
    digest: Mapped[str] = mapped_column(String(64), index=True)
    png: Mapped[bytes] = mapped_column(LargeBinary)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
