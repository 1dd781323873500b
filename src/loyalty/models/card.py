from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.models.base import Base, BigId, UTCDateTime


class LoyaltyCard(Base):
    """A customer's card in one programme.

    Balances here are a cache of the ledger, kept exact by the rule that every change locks this row
    and appends one ledger entry in the same transaction: stamp_count = Σ stamps_delta and
    points_balance = Σ points_delta. `updated_at` is the wallet pass version (it only moves forward).
    """

    __tablename__ = "loyalty_cards"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id"))
    program_id: Mapped[int] = mapped_column(ForeignKey("loyalty_programs.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    card_number: Mapped[str] = mapped_column(String(32), unique=True)
    qr_code: Mapped[str] = mapped_column(String(64), unique=True)
    card_token: Mapped[str] = mapped_column(String(64), unique=True)
    stamp_count: Mapped[int] = mapped_column(Integer, default=0)
    total_stamps_earned: Mapped[int] = mapped_column(Integer, default=0)
    stamps_redeemed: Mapped[int] = mapped_column(Integer, default=0)
    points_balance: Mapped[int] = mapped_column(BigInteger, default=0)
    total_points_earned: Mapped[int] = mapped_column(BigInteger, default=0)
    total_points_redeemed: Mapped[int] = mapped_column(BigInteger, default=0)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_stamp_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Stamps given on `stamps_today_date` (the vendor's local date), kept under the card's row lock
    # like the balances, so the daily limit is checked on the locked row without counting the ledger.
    stamps_today: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    stamps_today_date: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The wallet pass: a random serial and authentication token (WALLET.md, "The pass"), and the
    # commit-ordered tag of its last change, set by a trigger whenever `updated_at` moves (migration 0008).
    pass_serial_number: Mapped[str] = mapped_column(String(64), unique=True)
    pass_authentication_token: Mapped[str] = mapped_column(String(64))
    pass_changed_xid: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    __table_args__ = (
        UniqueConstraint("program_id", "customer_id"),
        Index("ix_loyalty_cards_vendor_id_enrolled_at", "vendor_id", "enrolled_at"),
        CheckConstraint("stamp_count >= 0", name="stamp_count_not_negative"),
        CheckConstraint("points_balance >= 0", name="points_balance_not_negative"),
        # SQLite only: its trigger takes max() + 1 on every change. PostgreSQL tags with the transaction id
        # and needs no index, which keeps card updates HOT there.
        Index("ix_loyalty_cards_pass_changed_xid", "pass_changed_xid", info={"only_on": "sqlite"}).ddl_if(
            dialect="sqlite"
        ),
    )
