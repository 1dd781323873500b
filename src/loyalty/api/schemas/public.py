"""What the public (customers, no key) sees: a programme's offer and a card's page.

No staff ids, no statistics, no customer data: the card page is opened by its unguessable token.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from loyalty.api.schemas.common import Instant
from loyalty.models import LoyaltyCard, LoyaltyProgram, ProgramType, TransactionType, Vendor
from loyalty.services.card_numbers import format_card_number
from loyalty.services.transactions import TransactionView


class PublicRewardOut(BaseModel):
    id: int
    name: str
    points_required: int


def _active_rewards(program: LoyaltyProgram) -> list[PublicRewardOut]:
    catalogue: list[dict[str, Any]] = program.points_rewards or []
    return [
        PublicRewardOut(id=r["id"], name=r["name"], points_required=r["points_required"])
        for r in catalogue
        if r.get("is_active", True)
    ]


class PublicProgramOut(BaseModel):
    vendor_name: str
    vendor_slug: str
    program_type: ProgramType
    name: str
    card_name: str | None
    card_color: str | None
    logo_url: str | None
    terms: str | None
    stamps_target: int
    stamps_reward_description: str | None
    points_per_euro: float  # a JSON number, as in the vendor's Program
    points_rewards: list[PublicRewardOut]

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

    transaction_type: TransactionType
    stamps_delta: int
    points_delta: int
    stamps_balance_after: int
    points_balance_after: int
    purchase_amount_cents: int | None
    reward_description: str | None
    transaction_at: Instant

    @classmethod
    def from_view(cls, view: TransactionView) -> PublicTransactionOut:
        return cls.model_validate(view.entry, from_attributes=True)


class PublicCardOut(BaseModel):
    card_number: str
    card_number_display: str
    card_token: str
    qr_code: str
    name: str  # the programme's name
    card_name: str | None
    card_color: str | None
    logo_url: str | None
    program_type: ProgramType
    vendor_name: str
    is_active: bool
    stamp_count: int
    stamps_target: int
    stamps_until_reward: int
    total_stamps_earned: int
    stamps_redeemed: int
    points_balance: int
    total_points_earned: int
    total_points_redeemed: int
    stamps_reward_description: str | None
    points_rewards: list[PublicRewardOut]
    enrolled_at: Instant
    last_stamp_at: Instant | None
    transactions: list[PublicTransactionOut]

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
