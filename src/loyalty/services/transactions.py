"""Reading the ledger: a card's history, a vendor's journal (filtered, paged or exported as CSV)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Label, Select, select, tuple_
from sqlalchemy.orm import QueryableAttribute

from loyalty.clock import as_utc
from loyalty.models import LoyaltyCard, LoyaltyTransaction, StaffPin, Terminal, TransactionType, Vendor
from loyalty.services import spreadsheet
from loyalty.services.card_numbers import format_card_number
from loyalty.services.cards import CardRef, find_card
from loyalty.services.context import Context
from loyalty.services.pages import Page, paginate

# `transaction_at` is the UTC instant; `transaction_at_local` the same instant in the vendor's timezone,
# with its offset (what the shop's clock showed), so a spreadsheet needs no time-zone arithmetic.
# `card_number` is written as printed on the card, in groups of four (`4000 1234 5678 9010`): a
# spreadsheet reads 16 bare digits as a number and keeps 15 of them, which breaks the check digit; the
# counter's look-up takes the number typed with its spaces.
CSV_COLUMNS = (
    "id",
    "transaction_at",
    "transaction_at_local",
    "card_id",
    "card_number",
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
    transaction_type: TransactionType | None = None
    card_id: int | None = None
    staff_pin_id: int | None = None  # the approving staff PIN's
    terminal_id: int | None = None  # the paired counter terminal's
    entry_ids: frozenset[int] | None = None  # only these entries (the dashboard's anomalies link to theirs)


@dataclass(frozen=True)
class TransactionView:
    entry: LoyaltyTransaction
    staff_name: str | None
    terminal_name: str | None = None  # the paired counter terminal's, when one made the entry


def _with_staff_name(vendor_id: int) -> Select[*tuple[Any, ...]]:
    return (
        select(LoyaltyTransaction, StaffPin.name, Terminal.name)
        .outerjoin(StaffPin, StaffPin.id == LoyaltyTransaction.staff_pin_id)
        .outerjoin(Terminal, Terminal.id == LoyaltyTransaction.terminal_id)
        .where(LoyaltyTransaction.vendor_id == vendor_id)
    )


def _filtered(vendor_id: int, where: TransactionFilter) -> Select[*tuple[Any, ...]]:
    query = _with_staff_name(vendor_id)
    if where.since is not None:
        query = query.where(LoyaltyTransaction.transaction_at >= where.since)
    if where.until is not None:
        query = query.where(LoyaltyTransaction.transaction_at < where.until)
    if where.transaction_type is not None:
        query = query.where(LoyaltyTransaction.transaction_type == where.transaction_type)
    if where.card_id is not None:
        query = query.where(LoyaltyTransaction.card_id == where.card_id)
    if where.staff_pin_id is not None:
        query = query.where(LoyaltyTransaction.staff_pin_id == where.staff_pin_id)
    if where.terminal_id is not None:
        query = query.where(LoyaltyTransaction.terminal_id == where.terminal_id)
    if where.entry_ids is not None:
        query = query.where(LoyaltyTransaction.id.in_(where.entry_ids))
    return query


NEWEST_FIRST = (LoyaltyTransaction.transaction_at.desc(), LoyaltyTransaction.id.desc())


def _views(rows: Sequence[tuple[LoyaltyTransaction, str | None, str | None]]) -> list[TransactionView]:
    return [TransactionView(entry, staff_name, terminal_name) for entry, staff_name, terminal_name in rows]


async def card_transactions(ctx: Context, card_id: int, *, limit: int, offset: int) -> Page[TransactionView]:
    """The card's ledger entries with the approving staff's name, newest first, one page (`limit` entries
    after `offset`). Raises CardNotFound (404) for an unknown card or another vendor's."""
    await find_card(ctx, CardRef(card_id=card_id))  # 404 for another vendor's card
    query = _with_staff_name(ctx.vendor_id).where(LoyaltyTransaction.card_id == card_id)
    page = await paginate(ctx.session, query, order_by=NEWEST_FIRST, limit=limit, offset=offset, scalars=False)
    return Page(_views(page.items), page.total, limit, offset)


async def recent_for_card(ctx: Context, card_id: int, vendor_id: int, count: int = 10) -> list[TransactionView]:
    """The card's `count` newest ledger entries (the public card page's history). Raises nothing: the
    caller has found the card already."""
    query = _with_staff_name(vendor_id).where(LoyaltyTransaction.card_id == card_id)
    rows = (await ctx.session.execute(query.order_by(*NEWEST_FIRST).limit(count))).all()
    return _views(rows)


async def vendor_transactions(
    ctx: Context, where: TransactionFilter, *, limit: int, offset: int
) -> Page[TransactionView]:
    """The calling vendor's journal filtered by `where` (`since` inclusive, `until` exclusive, UTC
    instants; a type; a card), newest first, one page. Raises nothing."""
    query = _filtered(ctx.vendor_id, where)
    page = await paginate(ctx.session, query, order_by=NEWEST_FIRST, limit=limit, offset=offset, scalars=False)
    return Page(_views(page.items), page.total, limit, offset)


async def voids_of(ctx: Context, entry_ids: Collection[int]) -> dict[int, int]:
    """Which of the calling vendor's entries `entry_ids` are voided: {voided entry's id: its void's id}.
    Raises nothing."""
    if not entry_ids:
        return {}
    rows = await ctx.session.execute(
        select(LoyaltyTransaction.voids_transaction_id, LoyaltyTransaction.id).where(
            LoyaltyTransaction.vendor_id == ctx.vendor_id, LoyaltyTransaction.voids_transaction_id.in_(entry_ids)
        )
    )
    return {int(voided): int(void) for voided, void in rows if voided is not None}


async def card_numbers(ctx: Context, card_ids: Collection[int]) -> dict[int, str]:
    """The numbers of the calling vendor's cards `card_ids` (ledger entries name their card by id), as
    printed: {card id: `4000 1234 5678 9010`}. Another vendor's card is left out. Raises nothing."""
    if not card_ids:
        return {}
    rows = await ctx.session.execute(
        select(LoyaltyCard.id, LoyaltyCard.card_number).where(
            LoyaltyCard.vendor_id == ctx.vendor_id, LoyaltyCard.id.in_(card_ids)
        )
    )
    return {card_id: format_card_number(number) for card_id, number in rows}


# Where an export has got to: the (transaction_at, id) of the last entry it wrote (newest first).
ExportCursor = tuple[datetime, int]


def csv_header() -> str:
    """The export's first line: the byte-order mark and the CSV_COLUMNS names (services/spreadsheet.py)."""
    return spreadsheet.csv_header(CSV_COLUMNS)


async def vendor_transactions_csv_chunk(
    ctx: Context, where: TransactionFilter, after: ExportCursor | None
) -> tuple[str, ExportCursor | None]:
    """Up to CSV_BATCH entries of the filtered journal, newest first, older than `after` (from the newest
    when None), as CSV rows (RFC 4180, formulas neutralised: services/spreadsheet.py; instants in UTC and
    in the vendor's timezone); and the cursor for the next chunk (None once the journal is done). Raises
    nothing.

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
    zone = ZoneInfo(await _vendor_timezone(ctx))
    text = spreadsheet.csv_rows(_export_row(row, zone) for row in rows)
    if len(rows) < CSV_BATCH:
        return text, None
    last = rows[-1]
    return text, (last[AT_COLUMN], last[ID_COLUMN])


AT_COLUMN, ID_COLUMN = CSV_COLUMNS.index("transaction_at"), CSV_COLUMNS.index("id")
LOCAL_AT_COLUMN, CARD_NUMBER_COLUMN = CSV_COLUMNS.index("transaction_at_local"), CSV_COLUMNS.index("card_number")


async def _vendor_timezone(ctx: Context) -> str:
    """The calling vendor's IANA zone: from the caller's look-up when the Context carries it, else one
    read by primary key (an export's chunks run in units of their own, one such read per chunk)."""
    if ctx.vendor_state is not None:
        return ctx.vendor_state.timezone
    zone = await ctx.session.scalar(select(Vendor.timezone).where(Vendor.id == ctx.vendor_id))
    return zone or ctx.settings.default_timezone


def _export_row(row: Sequence[object], zone: ZoneInfo) -> list[object]:
    """The row as written: `transaction_at_local` (read as the UTC instant) moved into the vendor's zone,
    ISO 8601 with that zone's offset at that instant (+01:00 in winter, +02:00 in summer in
    Luxembourg), and the card number in groups of four."""
    cells = list(row)
    moment, number = cells[LOCAL_AT_COLUMN], cells[CARD_NUMBER_COLUMN]
    if isinstance(moment, datetime):  # always: the column is NOT NULL
        cells[LOCAL_AT_COLUMN] = as_utc(moment).astimezone(zone)
    if isinstance(number, str):
        cells[CARD_NUMBER_COLUMN] = format_card_number(number)
    return cells


def _export_column(name: str) -> QueryableAttribute[Any] | Label[Any]:
    if name == "staff_name":
        return StaffPin.name
    if name == "card_number":
        return LoyaltyCard.card_number
    if name == "transaction_at_local":  # the UTC instant, moved into the vendor's zone by _export_row
        return LoyaltyTransaction.transaction_at.label(name)
    column: QueryableAttribute[Any] = getattr(LoyaltyTransaction, name)
    return column


def _filtered_columns(vendor_id: int, where: TransactionFilter) -> Select[*tuple[Any, ...]]:
    """The filtered journal as plain columns in CSV order: no ORM objects for an export. The card's
    number comes from its card (by primary key, the same vendor's: the ledger row names both)."""
    return (
        _filtered(vendor_id, where)
        .join(LoyaltyCard, LoyaltyCard.id == LoyaltyTransaction.card_id)
        .with_only_columns(*[_export_column(name) for name in CSV_COLUMNS])
    )
