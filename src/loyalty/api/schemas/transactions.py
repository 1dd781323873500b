"""The ledger entry as every API shows it (vendor history, journal, void answers, public card page)."""

from __future__ import annotations

from pydantic import BaseModel

from loyalty.api.schemas.common import Instant
from loyalty.models import TransactionType
from loyalty.services.transactions import TransactionView


class TransactionOut(BaseModel):
    id: int
    card_id: int
    transaction_type: TransactionType
    stamps_delta: int
    points_delta: int
    stamps_balance_after: int
    points_balance_after: int
    purchase_amount_cents: int | None
    order_reference: str | None
    reward_id: int | None
    reward_description: str | None
    staff_pin_id: int | None
    staff_name: str | None
    voids_transaction_id: int | None
    notes: str | None
    transaction_at: Instant

    @classmethod
    def from_view(cls, view: TransactionView) -> TransactionOut:
        fields = {name: getattr(view.entry, name) for name in cls.model_fields if name != "staff_name"}
        return cls(**fields, staff_name=view.staff_name)
