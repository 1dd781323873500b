"""The dashboard's ledger (PAGES.md, "Vendor dashboard"): the shop's entries newest first, filtered by the
URL so an anomaly of the overview links to the entries behind it (`?entries=12,13,14`), and a person can
narrow it by card, member of staff, terminal, kind of entry and last days. Owners and managers both read it.

    GET /vendor/ledger?card=<card id>&staff=<staff PIN id>&terminal=<terminal id>&type=<transaction type>
                      &days=<1..366: today and the days before, in the shop's time zone>
                      &entries=<ids, comma-separated, at most MAX_ENTRIES>&page=<from 1>

A parameter left empty is no filter. One that is not what it says (a word for a number, an unknown type)
gets the page again with the reason and status 400, never a 500. Another shop's ids match nothing: the
journal is the calling vendor's (`transactions.vendor_transactions`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from starlette.datastructures import QueryParams

from loyalty.api.unit_of_work import UnitOfWorkRoute
from loyalty.clock import local_day, local_midnight
from loyalty.i18n import N_
from loyalty.models import TransactionType
from loyalty.models.base import MAX_ID
from loyalty.models.transaction import TRANSACTION_TYPE_LABELS
from loyalty.services import pins, terminals, transactions
from loyalty.services.anomalies import MAX_LINKED
from loyalty.services.context import Context
from loyalty.services.pages import Page
from loyalty.services.transactions import TransactionFilter, TransactionView
from loyalty.services.web_sessions import UserHolder
from loyalty.web.dashboard import dashboard_page, who_signed_in
from loyalty.web.forms import form_int

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)

PATH = "/vendor/ledger"
PAGE_SIZE = 50
MAX_DAYS = 366
MAX_ENTRIES = MAX_LINKED  # what an anomaly links to
MAX_PAGE = 1_000_000  # 50 million entries: past any shop's ledger, and an offset the database takes
MAX_NAMES = 200  # staff and terminals offered in the filter's lists: more than any shop has
PARAMETERS = ("card", "staff", "terminal", "type", "days", "entries")


class BadFilter(Exception):
    """The query parameter `name` is not what it says; `message` (N_) tells the person why."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name, self.message = name, message


@dataclass(frozen=True)
class Chosen:
    """The filter the URL asks for, read and checked; `days` counts today."""

    card_id: int | None = None
    staff_pin_id: int | None = None
    terminal_id: int | None = None
    transaction_type: TransactionType | None = None
    days: int | None = None
    entry_ids: frozenset[int] | None = None
    page: int = 1

    def where(self, now: datetime, timezone: str) -> TransactionFilter:
        """The journal's filter: `days` from the local midnight `days - 1` days before today's."""
        since = None
        if self.days is not None:
            since = local_midnight(local_day(now, timezone) - timedelta(days=self.days - 1), timezone)
        return TransactionFilter(
            since=since,
            transaction_type=self.transaction_type,
            card_id=self.card_id,
            staff_pin_id=self.staff_pin_id,
            terminal_id=self.terminal_id,
            entry_ids=self.entry_ids,
        )


@router.get(PATH)
async def ledger_page(request: Request) -> Response:
    signed_in = await who_signed_in(request)
    if isinstance(signed_in, Response):
        return signed_in
    holder, ctx = signed_in
    given = {name: request.query_params.get(name, "").strip() for name in PARAMETERS}
    try:
        chosen = read_filter(request.query_params)
    except BadFilter as bad:
        return await _draw(request, holder, ctx, given, problem=bad.message, invalid=bad.name, status_code=400)
    where = chosen.where(ctx.clock.now(), holder.timezone)
    offset = (chosen.page - 1) * PAGE_SIZE
    found = await transactions.vendor_transactions(ctx, where, limit=PAGE_SIZE, offset=offset)
    return await _draw(request, holder, ctx, given, chosen=chosen, found=found)


def read_filter(query: QueryParams) -> Chosen:
    """The filter of a ledger URL (this module's docstring). Raises BadFilter for a parameter that is not
    what it says."""
    entries = query.get("entries", "").strip()
    return Chosen(
        card_id=_id(query, "card"),
        staff_pin_id=_id(query, "staff"),
        terminal_id=_id(query, "terminal"),
        transaction_type=_type(query.get("type")),
        days=_whole(query, "days", MAX_DAYS, N_("The days are a whole number from 1 to 366.")),
        entry_ids=_entry_ids(entries) if entries else None,
        page=_whole(query, "page", MAX_PAGE, N_("The page is a whole number from 1.")) or 1,
    )


_NOT_AN_ID = N_("Cards, staff and terminals are chosen by their number: choose them from the lists.")


def _id(query: QueryParams, name: str) -> int | None:
    return _whole(query, name, MAX_ID, _NOT_AN_ID)


def _whole(query: QueryParams, name: str, highest: int, problem: str) -> int | None:
    """The parameter `name`'s whole number (None: empty or absent). Raises BadFilter(`problem`) for anything
    else or one outside 1..highest."""
    text = query.get(name, "").strip()
    if not text:
        return None
    number = form_int(text)
    if number is None or not 1 <= number <= highest:
        raise BadFilter(name, problem)
    return number


def _type(text: str | None) -> TransactionType | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        return TransactionType(text)
    except ValueError:
        raise BadFilter("type", N_("Choose the kind of entry from the list.")) from None


def _entry_ids(text: str) -> frozenset[int]:
    parts = [part.strip() for part in text.split(",") if part.strip()]
    ids = [form_int(part) for part in parts]
    if not ids or len(ids) > MAX_ENTRIES or any(number is None or number > MAX_ID for number in ids):
        raise BadFilter("entries", N_("The entries are numbers separated by commas, at most 300 of them."))
    return frozenset(number for number in ids if number is not None)


async def _draw(
    request: Request,
    holder: UserHolder,
    ctx: Context,
    given: dict[str, str],
    *,
    chosen: Chosen | None = None,
    found: Page[TransactionView] | None = None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """The page: the filter's form (its fields as given), and the rows found with their cards' numbers and
    void marks, and the links to the pages before and after."""
    items = list(found.items) if found else []
    screen: dict[str, Any] = {
        "given": given,
        "chosen": chosen,
        "found": found,
        "rows": items,
        "voided": await transactions.voids_of(ctx, [view.entry.id for view in items]),
        "numbers": await transactions.card_numbers(ctx, {view.entry.card_id for view in items}),
        "labels": TRANSACTION_TYPE_LABELS,
        "types": list(TransactionType),
        **await _names(ctx, holder),
    }
    if found is not None and chosen is not None:
        screen.update(_page_links(given, chosen.page, found))
    return dashboard_page(request, holder, "vendor_ledger.html", status_code=status_code, **screen, **context)


async def _names(ctx: Context, holder: UserHolder) -> dict[str, Any]:
    """The staff and terminals the filter's lists offer: (id, name) pairs."""
    staff = (await pins.list_pins(ctx, holder.program, limit=MAX_NAMES, offset=0)).items if holder.program else []
    devices = (await terminals.list_terminals(ctx, limit=MAX_NAMES, offset=0)).items
    return {
        "staff": [(pin.id, pin.name) for pin in staff],
        "terminals": [(view.terminal.id, view.terminal.name) for view in devices],
    }


def _page_links(given: dict[str, str], number: int, found: Page[TransactionView]) -> dict[str, Any]:
    """The previous and next pages' URLs (None at either end), keeping the filter, and the count of pages."""
    query = {name: value for name, value in given.items() if value}

    def link(to: int) -> str:
        return f"{PATH}?{urlencode({**query, 'page': str(to)})}"

    last = max(1, -(-found.total // PAGE_SIZE))
    return {
        "page": number,
        "page_count": last,
        "previous_page": link(min(number, last + 1) - 1) if number > 1 else None,
        "next_page": link(number + 1) if number < last else None,
    }
