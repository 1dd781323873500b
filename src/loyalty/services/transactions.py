"""Reading the ledger: a card's history, a vendor's journal (filtered, paged or exported as CSV)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select

from loyalty.models import LoyaltyTransaction, StaffPin
from loyalty.services.cards import CardRef, find_card
from loyalty.services.context import Context
from loyalty.services.pages import Page, paginate

CSV_COLUMNS = (
    "id",
    "transaction_at",
    "card_id",
    "transaction_type",
    "stamps_delta",
    "points_delta",
    "stamps_balance_after",
    "points_balance_after",
    "purchase_amount_cents",
    "order_reference",
    "reward_id",
    "reward_description",
    "staff_pin_id",
    "staff_name",
    "voids_transaction_id",
    "notes",
)
CSV_BATCH = 1000


@dataclass(frozen=True)
class TransactionFilter:
    since: datetime | None = None
    until: datetime | None = None
    transaction_type: str | None = None
    card_id: int | None = None


@dataclass(frozen=True)
class TransactionView:
    entry: LoyaltyTransaction
    staff_name: str | None


def _with_staff_name(vendor_id: int) -> Select:
    return (
        select(LoyaltyTransaction, StaffPin.name)
        .outerjoin(StaffPin, StaffPin.id == LoyaltyTransaction.staff_pin_id)
        .where(LoyaltyTransaction.vendor_id == vendor_id)
    )


def _filtered(vendor_id: int, where: TransactionFilter) -> Select:
    query = _with_staff_name(vendor_id)
    if where.since is not None:
        query = query.where(LoyaltyTransaction.transaction_at >= where.since)
    if where.until is not None:
        query = query.where(LoyaltyTransaction.transaction_at < where.until)
    if where.transaction_type is not None:
        query = query.where(LoyaltyTransaction.transaction_type == where.transaction_type)
    if where.card_id is not None:
        query = query.where(LoyaltyTransaction.card_id == where.card_id)
    return query


NEWEST_FIRST = (LoyaltyTransaction.transaction_at.desc(), LoyaltyTransaction.id.desc())


def _views(rows: Sequence[tuple[LoyaltyTransaction, str | None]]) -> list[TransactionView]:
    return [TransactionView(entry, staff_name) for entry, staff_name in rows]


async def card_transactions(ctx: Context, card_id: int, *, limit: int, offset: int) -> Page[TransactionView]:
    await find_card(ctx, CardRef(card_id=card_id))  # 404 for another vendor's card
    query = _with_staff_name(ctx.vendor_id).where(LoyaltyTransaction.card_id == card_id)
    page = await paginate(ctx.session, query, order_by=NEWEST_FIRST, limit=limit, offset=offset, scalars=False)
    return Page(_views(page.items), page.total, limit, offset)


async def recent_for_card(ctx: Context, card_id: int, vendor_id: int, count: int = 10) -> list[TransactionView]:
    query = _with_staff_name(vendor_id).where(LoyaltyTransaction.card_id == card_id)
    rows = (await ctx.session.execute(query.order_by(*NEWEST_FIRST).limit(count))).all()
    return _views(rows)


async def vendor_transactions(
    ctx: Context, where: TransactionFilter, *, limit: int, offset: int
) -> Page[TransactionView]:
    query = _filtered(ctx.vendor_id, where)
    page = await paginate(ctx.session, query, order_by=NEWEST_FIRST, limit=limit, offset=offset, scalars=False)
    return Page(_views(page.items), page.total, limit, offset)


async def vendor_transactions_csv(ctx: Context, where: TransactionFilter) -> AsyncIterator[str]:
    """The whole filtered journal as CSV, in chunks of CSV_BATCH rows: a year of data needs little
    memory, and each chunk is one write to the client rather than one per row."""
    query = _filtered_columns(ctx.vendor_id, where).order_by(*NEWEST_FIRST)
    result = await ctx.session.stream(query.execution_options(yield_per=CSV_BATCH))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    async for rows in result.partitions(CSV_BATCH):
        writer.writerows([_csv_value(value) for value in row] for row in rows)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue()


def _filtered_columns(vendor_id: int, where: TransactionFilter) -> Select:
    """The filtered journal as plain columns in CSV order: no ORM objects for an export."""
    columns = [StaffPin.name if name == "staff_name" else getattr(LoyaltyTransaction, name) for name in CSV_COLUMNS]
    return _filtered(vendor_id, where).with_only_columns(*columns)


def _csv_value(value: object) -> object:
    if value is None:
        return ""
    return value.isoformat() if isinstance(value, datetime) else value
