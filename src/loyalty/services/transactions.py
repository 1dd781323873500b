"""Reading the ledger: a card's history, a vendor's journal (filtered, paged or exported as CSV)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select, tuple_

from loyalty.models import LoyaltyTransaction, StaffPin
from loyalty.services import spreadsheet
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


# Where an export has got to: the (transaction_at, id) of the last entry it wrote (newest first).
ExportCursor = tuple[datetime, int]


def csv_header() -> str:
    return spreadsheet.csv_header(CSV_COLUMNS)


async def vendor_transactions_csv_chunk(
    ctx: Context, where: TransactionFilter, after: ExportCursor | None
) -> tuple[str, ExportCursor | None]:
    """Up to CSV_BATCH entries of the filtered journal, newest first, older than `after` (from the newest
    when None), as CSV rows; and the cursor for the next chunk (None once the journal is done).

    An export reads chunk by chunk, each in a unit of work of its own, so that it holds a connection
    for one chunk at a time, never for the whole file nor while the client reads. The ledger is
    append-only and the cursor moves only towards older entries, so no entry that existed when the
    export began is skipped or written twice. An entry committed meanwhile is left out when it is
    newer than the cursor (nearly always: it was stamped after the export began); one whose commit
    was slower than a whole chunk may appear."""
    query = _filtered_columns(ctx.vendor_id, where)
    if after is not None:
        query = query.where(tuple_(LoyaltyTransaction.transaction_at, LoyaltyTransaction.id) < after)
    rows = (await ctx.session.execute(query.order_by(*NEWEST_FIRST).limit(CSV_BATCH))).all()
    if len(rows) < CSV_BATCH:
        return spreadsheet.csv_rows(rows), None
    last = rows[-1]
    return spreadsheet.csv_rows(rows), (last[AT_COLUMN], last[ID_COLUMN])


AT_COLUMN, ID_COLUMN = CSV_COLUMNS.index("transaction_at"), CSV_COLUMNS.index("id")


def _filtered_columns(vendor_id: int, where: TransactionFilter) -> Select:
    """The filtered journal as plain columns in CSV order: no ORM objects for an export."""
    columns = [StaffPin.name if name == "staff_name" else getattr(LoyaltyTransaction, name) for name in CSV_COLUMNS]
    return _filtered(vendor_id, where).with_only_columns(*columns)
