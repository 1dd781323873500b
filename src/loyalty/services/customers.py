"""Customers' personal data on request (GDPR): export everything, or erase it.

Erasure pseudonymises the customer (e-mail replaced, name and phone cleared) and deactivates their
cards; the ledger keeps its rows, which hold no personal data beyond the card they belong to.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from loyalty.errors import NotFound
from loyalty.models import Customer, LoyaltyCard, LoyaltyTransaction
from loyalty.services.context import Context


async def _customer(ctx: Context, customer_id: int) -> Customer:
    customer = await ctx.session.scalar(
        select(Customer).where(Customer.id == customer_id, Customer.vendor_id == ctx.vendor_id)
    )
    if customer is None:
        raise NotFound(customer_id)
    return customer


async def export_customer(ctx: Context, customer_id: int) -> dict[str, Any]:
    customer = await _customer(ctx, customer_id)
    cards = list(await ctx.session.scalars(select(LoyaltyCard).where(LoyaltyCard.customer_id == customer.id)))
    entries = list(
        await ctx.session.scalars(
            select(LoyaltyTransaction)
            .where(LoyaltyTransaction.card_id.in_([card.id for card in cards]))
            .order_by(LoyaltyTransaction.id)
        )
    )
    return {
        "customer": _columns(customer),
        "cards": [_columns(card) for card in cards],
        "transactions": [_columns(entry, exclude={"client_ip", "user_agent"}) for entry in entries],
    }


async def erase_customer(ctx: Context, customer_id: int) -> None:
    customer = await _customer(ctx, customer_id)
    now = ctx.clock.now()
    customer.email = customer.email_normalised = f"erased-{customer.id}@invalid"
    customer.name = customer.phone = None
    customer.marketing_consent = False
    customer.erased_at = now
    await ctx.session.execute(
        update(LoyaltyCard).where(LoyaltyCard.customer_id == customer.id).values(is_active=False, updated_at=now)
    )
    await ctx.session.flush()


def _columns(row: Any, exclude: set[str] | None = None) -> dict[str, Any]:
    values = {column.key: getattr(row, column.key) for column in row.__table__.columns}
    return {
        k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in values.items() if k not in (exclude or set())
    }
