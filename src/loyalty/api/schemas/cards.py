"""Cards as the vendor API shows them, and a customer's personal-data export."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from loyalty.api.schemas.common import Instant
from loyalty.models import LoyaltyProgram
from loyalty.services.card_numbers import format_card_number
from loyalty.services.cards import CardView


class CustomerOut(BaseModel):
    id: int = Field(description="The customer's id (the GDPR export and erasure routes take it).")
    email: str = Field(description="The e-mail the customer enrolled with, as typed.")
    name: str | None = Field(description="The name given at enrolment, if any.")


class CardOut(BaseModel):
    id: int = Field(description="The card's id.")
    card_number: str = Field(description="The 16-digit card number (digits only; the last is a Luhn check digit).")
    card_number_display: str = Field(description="The card number as printed, in groups of four.")
    qr_code: str = Field(description="The payload of the card's QR code, which the counter scans (a random token).")
    card_token: str = Field(
        description="The customer's own link: the public card page and, later, the wallet pass "
        "(`/api/v1/loyalty/cards/{card_token}`). Hand it to the customer only."
    )
    program_id: int = Field(description="The programme the card belongs to.")
    customer: CustomerOut = Field(description="The card's holder.")
    stamp_count: int = Field(description="Stamps on the card now.")
    stamps_target: int = Field(description="Stamps a reward takes (the programme's).")
    total_stamps_earned: int = Field(description="Every stamp the card ever received, less voided ones.")
    stamps_redeemed: int = Field(description="Stamp rewards redeemed with the card.")
    points_balance: int = Field(description="Points on the card now.")
    total_points_earned: int = Field(description="Every point the card ever earned, less voided earns.")
    total_points_redeemed: int = Field(description="Points spent on rewards.")
    is_active: bool = Field(
        description="False: deactivated by the vendor (or its holder erased); it takes no stamp nor points.",
    )
    enrolled_at: Instant = Field(description="When the card was issued (UTC).")
    last_stamp_at: Instant | None = Field(
        description="When the card last received a stamp (UTC), the start of its cooldown; null before.",
    )

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
    """Everything held about one customer (GDPR access request): the row, their cards, their ledger, and their
    passes' wallet registrations."""

    customer: dict[str, Any] = Field(description="The customer's row, every column.")
    cards: list[dict[str, Any]] = Field(description="Each of the customer's cards, every column.")
    transactions: list[dict[str, Any]] = Field(
        description="Every ledger entry of those cards, by id, without the client's IP and user agent.",
    )
    apple_devices: list[dict[str, Any]] = Field(
        description="Each Apple Wallet device registration of those cards' passes, without its push token.",
    )
    google_objects: list[dict[str, Any]] = Field(
        description="Each Google Wallet object of those cards: its id, state, messages and sync times.",
    )
