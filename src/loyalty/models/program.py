from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, CheckConstraint, ForeignKey, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from loyalty.models.base import Base, BigId, UTCDateTime, one_of


# The one spelling of the programme types: the table's CHECK, the services, the request and answer
# schemas and OpenAPI all use this enum (tests/test_enums.py).
class ProgramType(StrEnum):
    """What a programme collects: `stamps`, `points`, or both (`hybrid`)."""

    STAMPS = "stamps"
    POINTS = "points"
    HYBRID = "hybrid"  # both


class LoyaltyProgram(Base):
    """A vendor's one programme: a stamp card, a points scheme with a rewards catalogue, or both."""

    __tablename__ = "loyalty_programs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id"), unique=True)
    program_type: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    stamps_target: Mapped[int] = mapped_column(Integer, default=10)
    stamps_reward_description: Mapped[str | None] = mapped_column(String(500))
    points_per_euro: Mapped[Decimal] = mapped_column(Numeric(12, 4), default=Decimal(1))
    # The rewards catalogue: [{"id": int, "name": str, "points_required": int, "is_active": bool}].
    points_rewards: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # The highest reward id ever given in this programme: ids are never reused (services/programs.py).
    last_reward_id: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    cooldown_minutes: Mapped[int] = mapped_column(Integer, default=15)
    max_daily_stamps: Mapped[int] = mapped_column(Integer, default=5)
    require_staff_pin: Mapped[bool] = mapped_column(Boolean, default=True)
    card_name: Mapped[str | None] = mapped_column(String(200))
    card_color: Mapped[str | None] = mapped_column(String(7))
    logo_url: Mapped[str | None] = mapped_column(String(1000))
    terms: Mapped[str | None] = mapped_column(Text)
    # Shops where the wallet pass shows itself: [{"latitude", "longitude", "relevant_text"}], at most 10.
    locations: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list, server_default="[]")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint(one_of("program_type", ProgramType), name="program_type"),
        CheckConstraint("stamps_target >= 1", name="stamps_target_positive"),
        CheckConstraint("points_per_euro >= 0", name="points_per_euro_not_negative"),
        CheckConstraint("cooldown_minutes >= 0", name="cooldown_not_negative"),
        CheckConstraint("max_daily_stamps >= 1", name="max_daily_stamps_positive"),
    )

    @property
    def collects_stamps(self) -> bool:
        return self.program_type in (ProgramType.STAMPS, ProgramType.HYBRID)

    @property
    def collects_points(self) -> bool:
        return self.program_type in (ProgramType.POINTS, ProgramType.HYBRID)

    def reward(self, reward_id: int) -> dict[str, Any] | None:
        return next((r for r in self.points_rewards if r.get("id") == reward_id), None)
