"""Cards as the vendor API shows them, and a customer's personal-data export."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from loyalty.api.schemas.common import Instant
from loyalty.models import LoyaltyProgram
from loyalty.services.card_numbers import format_card_number
from loyalty.services.cards import CardView


class CustomerOut(BaseModel):
    id: int
    email: str
    name: str | None


class CardOut(BaseModel):
    id: int
    card_number: str
    card_number_display: str
    qr_code: str
    card_token: str = Field(
        description="The customer's own link: the public card page and, later, the wallet pass "
        "(`/api/v1/loyalty/cards/{card_token}`). Hand it to the customer only."
    )
    program_id: int
    customer: CustomerOut
    stamp_count: int
    stamps_target: int
    total_stamps_earned: int
    stamps_redeemed: int
    points_balance: int
    total_points_earned: int
    total_points_redeemed: int
    is_active: bool
    enrolled_at: Instant
    last_stamp_at: Instant | None

    @classmethod
    def from_view(cls, view: CardView, program: LoyaltyProgram) -> CardOut:
        card, customer = view.card, view.customer
        return cls(
            id=card.id,
            card_number=card.card_number,
            card_number_display=format_card_number(card.card_number),
            qr_code=card.qr_code,
            card_token=card.card_token,
            program_id=card.program_id,
            customer=CustomerOut(id=customer.id, email=customer.email, name=customer.name),
            stamp_count=card.stamp_count,
            stamps_target=program.stamps_target,
            total_stamps_earned=card.total_stamps_earned,
            stamps_redeemed=card.stamps_redeemed,
            points_balance=card.points_balance,
            total_points_earned=card.total_points_earned,
            total_points_redeemed=card.total_points_redeemed,
            is_active=card.is_active,
            enrolled_at=card.enrolled_at,
            last_stamp_at=card.last_stamp_at,
        )


class CustomerExportOut(BaseModel):
    """Everything held about one customer (GDPR access request): the row, their cards, their ledger."""

    customer: dict[str, Any]
    cards: list[dict[str, Any]]
    transactions: list[dict[str, Any]]
