"""Programmes as vendor and admin read them (the bodies that create and change one: services/programs.py)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from loyalty.api.schemas.common import Instant
from loyalty.models import LoyaltyProgram, ProgramType


class RewardOut(BaseModel):
    id: int
    name: str
    points_required: int
    is_active: bool


class ProgramOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    vendor_id: int
    program_type: ProgramType
    name: str
    stamps_target: int
    stamps_reward_description: str | None
    # Stored as an exact decimal; a JSON number is what clients compute with (API.md: "decimal ≥ 0").
    points_per_euro: float
    points_rewards: list[RewardOut]
    cooldown_minutes: int
    max_daily_stamps: int
    require_staff_pin: bool
    card_name: str | None
    card_color: str | None
    logo_url: str | None
    terms: str | None
    is_active: bool
    created_at: Instant
    updated_at: Instant


class AdminProgramOut(ProgramOut):
    """The admin's view adds whose programme it is."""

    vendor_name: str

    @classmethod
    def of(cls, program: LoyaltyProgram, vendor_name: str) -> AdminProgramOut:
        return cls.model_validate({**ProgramOut.model_validate(program).model_dump(), "vendor_name": vendor_name})
