"""The ledger entry as every API shows it (vendor history, journal, void answers, public card page)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from loyalty.api.schemas.common import Instant
from loyalty.models import TransactionType
from loyalty.services.transactions import TransactionView


class TransactionOut(BaseModel):
    id: int = Field(description="The entry's id (a void names it in `voids_transaction_id`).")
    card_id: int = Field(description="The card whose balance moved.")
    transaction_type: TransactionType = Field(description="What happened.")
    stamps_delta: int = Field(description="Stamps added (positive) or taken off (negative).")
    points_delta: int = Field(description="Points added (positive) or taken off (negative).")
    stamps_balance_after: int = Field(description="Stamps on the card after this entry.")
    points_balance_after: int = Field(description="Points on the card after this entry.")
    purchase_amount_cents: int | None = Field(description="The purchase that earned points, in cents; null otherwise.")
    order_reference: str | None = Field(
        description="The till's receipt the purchase came with, if sent (it earns once per vendor).",
    )
    reward_id: int | None = Field(description="The catalogue reward redeemed (or whose redemption a void reverses).")
    reward_description: str | None = Field(description="The reward's name at the time.")
    staff_pin_id: int | None = Field(description="The staff PIN that approved it; null without a PIN.")
    staff_name: str | None = Field(description="That PIN's name.")
    terminal_id: int | None = Field(description="The paired counter terminal that made it; null for an API key's.")
    terminal_name: str | None = Field(description="That terminal's name.")
    voids_transaction_id: int | None = Field(description="For a void: the entry it reverses.")
    notes: str | None = Field(description="Free text from the counter; a void's reason.")
    transaction_at: Instant = Field(description="When it happened (UTC).")

    @classmethod
    def from_view(cls, view: TransactionView) -> TransactionOut:
        named = {"staff_name": view.staff_name, "terminal_name": view.terminal_name}
        fields = {name: getattr(view.entry, name) for name in cls.model_fields if name not in named}
        return cls(**fields, **named)
