"""Customers' personal data on request (GDPR): export everything, or erase it.

Erasure leaves no copy of the person's data anywhere the service keeps one (docs/rules.md):
- the customer is pseudonymised (e-mail replaced, name and phone cleared, consent withdrawn);
- their cards are deactivated for good (`CustomerErased` refuses to reactivate them);
- their ledger entries keep amounts, types and times, but lose the free text staff typed (`notes`,
  `order_reference`), through the one path the append-only trigger lets through (migration 0005),
  and their receipts leave `order_references`;
- stored Idempotency-Key answers about their cards are forgotten (an enrolment's answer holds the
  e-mail and name).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, or_, select, text, update

from loyalty.db import is_postgres
from loyalty.errors import CustomerNotFound
from loyalty.models import (
    AppleDeviceRegistration,
    Customer,
    GoogleWalletObject,
    LoyaltyCard,
    LoyaltyTransaction,
    OrderReference,
)
from loyalty.services import google_wallet, idempotency
from loyalty.services.cards import pass_changed
from loyalty.services.context import Context


async def _customer(ctx: Context, customer_id: int) -> Customer:
    customer = await ctx.session.scalar(
        select(Customer).where(Customer.id == customer_id, Customer.vendor_id == ctx.vendor_id)
    )
    if customer is None:
        raise CustomerNotFound(customer_id)
    return customer


# Kept out of an export: the ledger's network details, and the wallets' credentials (an Apple push token lets
# its holder wake the device; Google's synced copy is the card again).
LEDGER_NOT_EXPORTED = {"client_ip", "user_agent"}
APPLE_NOT_EXPORTED = {"push_token"}
GOOGLE_NOT_EXPORTED = {"synced_fields"}


async def export_customer(ctx: Context, customer_id: int) -> dict[str, Any]:
    """Everything held about the calling vendor's customer (GDPR Art. 15, access): `customer` (its row),
    `cards` (its cards' rows), `transactions` (their ledger entries by id, without the client IP and user
    agent), `apple_devices` (each device registration of their passes, without its push token) and
    `google_objects` (their Google Wallet objects: id, state, messages, sync times), instants as ISO 8601
    strings. Raises CustomerNotFound (404), also for another vendor's."""
    customer = await _customer(ctx, customer_id)
    cards = list(await ctx.session.scalars(select(LoyaltyCard).where(LoyaltyCard.customer_id == customer.id)))
    card_ids = [card.id for card in cards]
    return {
        "customer": _columns(customer),
        "cards": [_columns(card) for card in cards],
        "transactions": await _rows_of(ctx, LoyaltyTransaction, card_ids, LEDGER_NOT_EXPORTED),
        "apple_devices": await _rows_of(ctx, AppleDeviceRegistration, card_ids, APPLE_NOT_EXPORTED),
        "google_objects": await _rows_of(ctx, GoogleWalletObject, card_ids, GOOGLE_NOT_EXPORTED),
    }


async def _rows_of(ctx: Context, model: Any, card_ids: list[int], exclude: set[str]) -> list[dict[str, Any]]:
    """The cards' rows of `model` (a table with `card_id`), by id, without the columns `exclude` names."""
    found = await ctx.session.scalars(select(model).where(model.card_id.in_(card_ids)).order_by(model.id))
    return [_columns(row, exclude=exclude) for row in found]


async def erase_customer(ctx: Context, customer_id: int) -> None:
    """Erases the calling vendor's customer (GDPR Art. 17) as the module's docstring lists, keeping the
    ledger's amounts; doing it twice changes nothing more. Raises CustomerNotFound (404). Rules:
    docs/rules.md, "Enrolment and customers"."""
    customer = await _customer(ctx, customer_id)
    now = ctx.clock.now()
    # Locked in id order, as a programme change locks them, before any outbox row is written.
    cards = list(
        await ctx.session.scalars(
            select(LoyaltyCard).where(LoyaltyCard.customer_id == customer.id).order_by(LoyaltyCard.id).with_for_update()
        )
    )
    await idempotency.forget_answers_about(ctx, [card.program_id for card in cards], _identifiers(customer, cards))
    first_time = customer.erased_at is None
    customer.email = customer.email_normalised = f"erased-{customer.id}@invalid"
    customer.name = customer.phone = None
    customer.marketing_consent = False
    customer.erased_at = now
    for card in cards:
        card.is_active = False
        if first_time:  # a deactivated card's passes show the holder too: every one is redrawn without them
            await pass_changed(ctx, card)
    await _blank_free_text(ctx, [card.id for card in cards])
    await google_wallet.forget_holder(ctx, [card.id for card in cards])
    await ctx.session.flush()


def _identifiers(customer: Customer, cards: list[LoyaltyCard]) -> list[str]:
    """What a stored answer about this person contains, exactly as the JSON of an answer writes it."""
    return [
        customer.email_normalised,
        *(card.card_number for card in cards),
        *(f'"card_id":{card.id},' for card in cards),
        *(f'"card_id":{card.id}}}' for card in cards),
    ]


async def _blank_free_text(ctx: Context, card_ids: list[int]) -> None:
    """Blanks the free text of the cards' ledger entries, the only change the append-only trigger
    lets through, and only inside a transaction that says it is erasing (migration 0005)."""
    if is_postgres(ctx.session):
        await ctx.session.execute(text("SELECT set_config('loyalty.erasure', 'on', true)"))  # this transaction only
    entries = select(LoyaltyTransaction.id).where(LoyaltyTransaction.card_id.in_(card_ids))
    await ctx.session.execute(delete(OrderReference).where(OrderReference.transaction_id.in_(entries)))
    await ctx.session.execute(
        update(LoyaltyTransaction)
        .where(
            LoyaltyTransaction.card_id.in_(card_ids),
            or_(LoyaltyTransaction.notes.is_not(None), LoyaltyTransaction.order_reference.is_not(None)),
        )
        .values(notes=None, order_reference=None)
    )
    if is_postgres(ctx.session):
        await ctx.session.execute(text("SELECT set_config('loyalty.erasure', 'off', true)"))


def _columns(row: Any, exclude: set[str] | None = None) -> dict[str, Any]:
    values = {column.key: getattr(row, column.key) for column in row.__table__.columns}
    return {
        k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in values.items() if k not in (exclude or set())
    }
