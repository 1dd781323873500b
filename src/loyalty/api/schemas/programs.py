"""Programmes as vendor and admin read them (the bodies that create and change one: services/programs.py)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from loyalty.api.schemas.common import Instant
from loyalty.models import LoyaltyProgram, ProgramType


class RewardOut(BaseModel):
    id: int = Field(
        description="The reward's id, never reused within the programme (the `reward_id` a redemption sends).",
    )
    name: str = Field(description="The reward, as the customer sees it.")
    points_required: int = Field(description="Points the reward costs.")
    is_active: bool = Field(description="False: retired; it cannot be redeemed, and its id stays taken.")


class ShopLocationOut(BaseModel):
    latitude: float = Field(description="Degrees north (WGS 84).")
    longitude: float = Field(description="Degrees east (WGS 84).")
    relevant_text: str | None = Field(None, description="What the wallet pass says near this shop.")


class ProgramOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int = Field(description="The programme's id.")
    vendor_id: int = Field(description="The vendor whose one programme it is.")
    program_type: ProgramType = Field(description="What the programme collects.")
    name: str = Field(description="The programme's name.")
    stamps_target: int = Field(description="Stamps a reward takes.")
    stamps_reward_description: str | None = Field(description="The stamp card's reward, as the customer sees it.")
    # Stored as an exact decimal; a JSON number is what clients compute with (API.md: "decimal ≥ 0").
    points_per_euro: float = Field(
        description="Points per euro spent: floor(cents × points_per_euro / 100) per purchase (decimal ≥ 0).",
    )
    points_rewards: list[RewardOut] = Field(description="The points catalogue.")
    cooldown_minutes: int = Field(description="Minutes between two stamps of one card (0: none).")
    max_daily_stamps: int = Field(
        description="Stamps one card may receive per local day of the vendor (its IANA timezone).",
    )
    require_staff_pin: bool = Field(description="Whether every stamp, redemption, earn and void needs a staff PIN.")
    card_name: str | None = Field(description="The card's title on the card page and the wallet pass.")
    card_color: str | None = Field(description="The card's colour, `#RRGGBB`.")
    logo_url: str | None = Field(description="The logo shown on the card page.")
    terms: str | None = Field(description="The programme's terms, shown to customers.")
    locations: list[ShopLocationOut] = Field(
        description="Shops where the wallet pass offers itself on the lock screen (at most 10)."
    )
    is_active: bool = Field(
        description="False: paused; the counter is refused and the programme is not public (voids still work).",
    )
    created_at: Instant = Field(description="When the programme was created (UTC).")
    updated_at: Instant = Field(description="When it last changed (UTC).")


class AdminProgramOut(ProgramOut):
    """The admin's view adds whose programme it is."""

    vendor_name: str = Field(description="The vendor's name.")

    @classmethod
    def of(cls, program: LoyaltyProgram, vendor_name: str) -> AdminProgramOut:
        return cls.model_validate({**ProgramOut.model_validate(program).model_dump(), "vendor_name": vendor_name})
