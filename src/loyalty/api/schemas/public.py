"""What the public (customers, no key) sees: a programme's offer and a card's page.

No staff ids, no statistics, no customer data: the card page is opened by its unguessable token.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from loyalty.api.schemas.common import Instant
from loyalty.models import LoyaltyCard, LoyaltyProgram, ProgramType, TransactionType, Vendor
from loyalty.services.card_numbers import format_card_number
from loyalty.services.transactions import TransactionView


class PublicRewardOut(BaseModel):
    id: int = Field(description="The reward's id.")
    name: str = Field(description="The reward.")
    points_required: int = Field(description="Points the reward costs.")


def _active_rewards(program: LoyaltyProgram) -> list[PublicRewardOut]:
    catalogue: list[dict[str, Any]] = program.points_rewards or []
    return [
        PublicRewardOut(id=r["id"], name=r["name"], points_required=r["points_required"])
        for r in catalogue
        if r.get("is_active", True)
    ]


class PublicProgramOut(BaseModel):
    vendor_name: str = Field(description="The shop's name.")
    vendor_slug: str = Field(description="The shop's address in this API (`/programs/{vendor_slug}`).")
    program_type: ProgramType = Field(description="What the programme collects.")
    name: str = Field(description="The programme's name.")
    card_name: str | None = Field(description="The card's title.")
    card_color: str | None = Field(description="The card's colour, `#RRGGBB`.")
    logo_url: str | None = Field(description="The shop's logo.")
    terms: str | None = Field(description="The programme's terms.")
    stamps_target: int = Field(description="Stamps a reward takes.")
    stamps_reward_description: str | None = Field(description="The stamp card's reward.")
    points_per_euro: float = Field(description="Points per euro spent.")
    points_rewards: list[PublicRewardOut] = Field(description="The rewards points can be spent on (active ones only).")

    @classmethod
    def from_program(cls, program: LoyaltyProgram, vendor: Vendor) -> PublicProgramOut:
        return cls(
            vendor_name=vendor.name,
            vendor_slug=vendor.slug,
            program_type=program.program_type,
            name=program.name,
            card_name=program.card_name,
            card_color=program.card_color,
            logo_url=program.logo_url,
            terms=program.terms,
            stamps_target=program.stamps_target,
            stamps_reward_description=program.stamps_reward_description,
            points_per_euro=float(program.points_per_euro),
            points_rewards=_active_rewards(program),
        )


class PublicTransactionOut(BaseModel):
    """A ledger entry on the customer's page: what changed and when, not who approved it."""

    transaction_type: TransactionType = Field(description="What happened.")
    stamps_delta: int = Field(description="Stamps added (positive) or taken off (negative).")
    points_delta: int = Field(description="Points added (positive) or taken off (negative).")
    stamps_balance_after: int = Field(description="Stamps on the card after it.")
    points_balance_after: int = Field(description="Points on the card after it.")
    purchase_amount_cents: int | None = Field(description="The purchase that earned points, in cents; null otherwise.")
    reward_description: str | None = Field(
        description="The reward redeemed (or whose redemption a void reverses); null otherwise.",
    )
    transaction_at: Instant = Field(description="When it happened (UTC).")

    @classmethod
    def from_view(cls, view: TransactionView) -> PublicTransactionOut:
        return cls.model_validate(view.entry, from_attributes=True)


class PublicCardOut(BaseModel):
    card_number: str = Field(description="The card's number (digits only).")
    card_number_display: str = Field(description="The card number as printed, in groups of four.")
    card_token: str = Field(description="This page's token: the customer's own link to the card.")
    qr_code: str = Field(description="The QR payload to show at the counter.")
    name: str = Field(description="The programme's name.")
    card_name: str | None = Field(description="The card's title.")
    card_color: str | None = Field(description="The card's colour, `#RRGGBB`.")
    logo_url: str | None = Field(description="The shop's logo.")
    program_type: ProgramType = Field(description="What the programme collects.")
    vendor_name: str = Field(description="The shop's name.")
    is_active: bool = Field(description="False: the card takes no more stamps or points.")
    stamp_count: int = Field(description="Stamps on the card.")
    stamps_target: int = Field(description="Stamps a reward takes.")
    stamps_until_reward: int = Field(description="Stamps still missing for the reward.")
    total_stamps_earned: int = Field(description="Every stamp the card received, less voided ones.")
    stamps_redeemed: int = Field(description="Stamp rewards redeemed.")
    points_balance: int = Field(description="Points on the card.")
    total_points_earned: int = Field(description="Every point the card earned, less voided earns.")
    total_points_redeemed: int = Field(description="Points spent on rewards.")
    stamps_reward_description: str | None = Field(description="The stamp card's reward.")
    points_rewards: list[PublicRewardOut] = Field(description="The rewards points can be spent on.")
    enrolled_at: Instant = Field(description="When the card was issued (UTC).")
    last_stamp_at: Instant | None = Field(description="When the card last received a stamp (UTC); null before.")
    transactions: list[PublicTransactionOut] = Field(description="The card's last 10 entries, newest first.")

    @classmethod
    def build(
        cls,
        card: LoyaltyCard,
        program: LoyaltyProgram,
        vendor_name: str,
        recent: list[TransactionView] | None = None,
    ) -> PublicCardOut:
        return cls(
            card_number=card.card_number,
            card_number_display=format_card_number(card.card_number),
            card_token=card.card_token,
            qr_code=card.qr_code,
            name=program.name,
            card_name=program.card_name,
            card_color=program.card_color,
            logo_url=program.logo_url,
            program_type=program.program_type,
            vendor_name=vendor_name,
            is_active=card.is_active,
            stamp_count=card.stamp_count,
            stamps_target=program.stamps_target,
            stamps_until_reward=max(0, program.stamps_target - card.stamp_count),
            total_stamps_earned=card.total_stamps_earned,
            stamps_redeemed=card.stamps_redeemed,
            points_balance=card.points_balance,
            total_points_earned=card.total_points_earned,
            total_points_redeemed=card.total_points_redeemed,
            stamps_reward_description=program.stamps_reward_description,
            points_rewards=_active_rewards(program),
            enrolled_at=card.enrolled_at,
            last_stamp_at=card.last_stamp_at,
            transactions=[PublicTransactionOut.from_view(view) for view in recent or []],
        )
