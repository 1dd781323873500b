from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.models.base import Base, BigId, UTCDateTime

TERMINAL_SESSION = "terminal"
USER_SESSION = "user"
KIND_HAS_HOLDER = (
    "(kind = 'terminal' AND terminal_id IS NOT NULL AND vendor_id IS NOT NULL AND user_id IS NULL)"
    " OR (kind = 'user' AND user_id IS NOT NULL AND terminal_id IS NULL)"
)


class WebSession(Base):
    """A browser's server-side session (PAGES.md, "Sessions"): the cookie holds 256 random bits, the
    table their SHA-256 (`token_hash`), so a copy of the table opens no session. `kind` says who holds
    it: `terminal` (a paired counter device, 90 days sliding) or `user` (a person signed in: 30 minutes idle,
    12 hours at most). Revoked at once by setting `revoked_at`.
    """

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    vendor_id: Mapped[int | None] = mapped_column(ForeignKey("vendors.id"))
    terminal_id: Mapped[int | None] = mapped_column(ForeignKey("terminals.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    client_ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(500))

    __table_args__ = (
        Index("ix_web_sessions_terminal_id", "terminal_id"),
        Index("ix_web_sessions_user_id", "user_id"),
        CheckConstraint(KIND_HAS_HOLDER, name="kind_has_holder"),
    )
