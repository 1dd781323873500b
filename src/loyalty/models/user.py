from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.models.base import Base, BigId, UTCDateTime, one_of


class UserRole(StrEnum):
    """What a person who signs in may do (PAGES.md, "Authentication"): a vendor's `owner` (its dashboard,
    its users and terminals), a vendor's `manager` (its dashboard), or a platform `admin`."""

    OWNER = "owner"
    MANAGER = "manager"
    ADMIN = "admin"


class User(Base):
    """A person who signs in with an e-mail and a password: never a shared device (that is a terminal).

    `password_hash` is argon2id (argon2-cffi), NULL until the invitation is accepted. An admin belongs to no
    vendor; an owner or manager to exactly one. A removed user keeps its row (`removed_at`), so what it did
    stays attributable; its e-mail is freed for a new invitation.
    """

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    vendor_id: Mapped[int | None] = mapped_column(ForeignKey("vendors.id"))
    email: Mapped[str] = mapped_column(String(320))
    email_normalised: Mapped[str | None] = mapped_column(String(320), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_users_vendor_id", "vendor_id"),
        CheckConstraint(one_of("role", UserRole), name="role"),
        CheckConstraint("(role = 'admin') = (vendor_id IS NULL)", name="admin_has_no_vendor"),
    )


class UserTokenPurpose(StrEnum):
    INVITATION = "invitation"
    RESET = "reset"


class UserToken(Base):
    """A one-time link's secret for a user: an invitation (7 days) or a password reset. The link holds 256
    random bits; the table their SHA-256. Used once (`used_at`)."""

    __tablename__ = "user_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_user_tokens_user_id", "user_id"),
        CheckConstraint(one_of("purpose", UserTokenPurpose), name="purpose"),
    )
