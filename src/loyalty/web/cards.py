"""The dashboard's cards (PAGES.md, "Vendor dashboard" → Cards), for owners and managers: search the shop's
cards by number (as printed or typed), e-mail or name; a card's page with its balances, customer, ledger
(newest first, with staff, terminal and address; voided entries marked), wallet passes, and the forms to
deactivate or reactivate it and to void a ledger entry with a reason and a staff PIN.

Every rule is the API's: the search is `GET /cards`'s, the void `POST /transactions/{id}/void`'s (the same
PIN check, counting and lockout), the switch `POST /cards/{id}/deactivate`'s. A refused change is drawn from
plain values read before it, then rolled back (`RolledBackAnswer`), so a wrong PIN is counted exactly as
through the API. A card that is not the shop's, an unknown id and one that is no number all get the same
404 page: nobody learns another shop's card exists.

Ledger rows carry `id="tx-{id}"`, so another page links to `/vendor/cards/{card_id}#tx-{id}`; the query
`?entries=12,13` marks those rows as flagged (an anomaly's rows) and opens the ledger's page holding the
newest of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from sqlalchemy import func, select, tuple_

from loyalty.api.errors import RolledBackAnswer
from loyalty.api.unit_of_work import UnitOfWorkRoute
from loyalty.errors import (
    CardNotFound,
    InvalidStaffPin,
    LoyaltyError,
    ProgramNotFound,
    StaffPinLocked,
    TransactionNotFound,
    TransactionNotVoidable,
)
from loyalty.i18n import N_
from loyalty.models import LoyaltyProgram, LoyaltyTransaction, TransactionType
from loyalty.models.base import MAX_ID
from loyalty.models.transaction import TRANSACTION_TYPE_LABELS
from loyalty.services import cards, google_wallet, pins, programs, transactions, voids, wallet_passes
from loyalty.services.card_numbers import (
    CARD_NUMBER_DIGITS,
    format_card_number,
    is_valid_card_number,
    normalise_card_number,
)
from loyalty.services.cards import CardView
from loyalty.services.context import Context
from loyalty.services.pages import Page
from loyalty.services.transactions import TransactionView
from loyalty.services.voids import VoidRequest
from loyalty.services.wallet_passes import first_name
from loyalty.services.web_sessions import UserHolder
from loyalty.web.dashboard import dashboard_page, posted_form, who_signed_in
from loyalty.web.forms import form_int

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)

CARDS_PER_PAGE = 25
ENTRIES_PER_PAGE = 100  # ledger entries on a card's page; older ones on the next pages
MAX_SEARCH = 200  # characters, as the API's `GET /cards?search=`
MAX_PAGE = 100_000  # beyond any shop's cards or a card's ledger: keeps the offset a small number
MAX_FLAGGED = 100  # ids read from `?entries=`
MAX_STAFF = 200  # names in the void form's list: more than any shop has

# msgids of the page's own messages (the services' errors bring theirs)
SEARCH_TOO_LONG = N_("Search with at most 200 characters.")
CHECK_DIGIT = N_("The card number's check digit does not match: a typo?")  # the counter's message
CHOOSE_ENTRY = N_("Choose the entry to void.")
GIVE_REASON = N_("Say why the entry is voided (at most 1,000 characters).")
PIN_SHAPE = N_("Type the PIN: 4 to 8 digits")  # the counter's message
CHOOSE_ACTION = N_("Choose what to do")  # the counter's message
DONE = {
    "deactivate": N_("Deactivated: this card collects and spends nothing until it is reactivated."),
    "reactivate": N_("Reactivated."),
    "void": N_("Voided: the correction is in the ledger and the balance is corrected."),
}
NOT_VOIDABLE = {  # why TransactionNotVoidable refused, in the owner's words
    TransactionNotVoidable.ALREADY_VOIDED: N_("It was voided already."),
    TransactionNotVoidable.IS_VOID: N_("A correction cannot be voided itself."),
    TransactionNotVoidable.NEGATIVE_BALANCE: N_(
        "Its stamps or points were spent since: the balance cannot go below zero."
    ),
}
GOOGLE_STATES = {"ACTIVE": N_("Active"), "INACTIVE": N_("Inactive")}


# --- search --------------------------------------------------------------------------------------


@router.get("/vendor/cards")
async def search_page(request: Request) -> Response:
    """`?q=` part of a card number (grouped or not), of an e-mail or of a name (the API's `GET /cards`
    search; empty: every card, newest first), `?page=` from 1. A query over 200 characters, or a whole card
    number whose check digit fails, is answered 400 with the reason on the page."""
    signed_in = await who_signed_in(request)
    if isinstance(signed_in, Response):
        return signed_in
    holder, ctx = signed_in
    query = request.query_params.get("q", "").replace("\x00", "").strip()  # PostgreSQL refuses NUL in text
    number = _page_number(request.query_params.get("page"))
    problem = _search_problem(query)
    if problem == SEARCH_TOO_LONG:
        found: Page[CardView] = Page([], 0, CARDS_PER_PAGE, 0)
    else:
        offset = (number - 1) * CARDS_PER_PAGE
        found = await cards.list_cards(ctx, search=query or None, limit=CARDS_PER_PAGE, offset=offset)
    links = _page_links("/vendor/cards", {"q": query} if query else {}, number, found)
    return dashboard_page(
        request, holder, "vendor_cards.html", status_code=400 if problem else 200, query=query, found=found,
        program=holder.program, problem=problem, page=number, first_name=first_name, grouped=format_card_number,
        **links,
    )  # fmt: skip


def _search_problem(query: str) -> str | None:
    """What is wrong with a search (a msgid), or None."""
    if len(query) > MAX_SEARCH:
        return SEARCH_TOO_LONG
    digits = normalise_card_number(query)
    if len(digits) == CARD_NUMBER_DIGITS and not is_valid_card_number(digits):
        return CHECK_DIGIT
    return None


# --- one card ------------------------------------------------------------------------------------


@router.get("/vendor/cards/{card_id}")
async def card_page(request: Request, card_id: str) -> Response:
    """The card's page: `?page=` of its ledger (from 1, ENTRIES_PER_PAGE a page), `?entries=12,13` the
    entries to flag (then, without `page`, the ledger's page holding the newest of them), `?void=` the entry
    the void form proposes. 404 page for a card not of this shop, an unknown or a malformed id."""
    signed_in = await who_signed_in(request)
    if isinstance(signed_in, Response):
        return signed_in
    holder, ctx = signed_in
    known = _card_id(card_id)
    flagged = _flagged(request.query_params.get("entries", ""))
    try:
        if known is None:
            raise CardNotFound(card_id)
        asked = request.query_params.get("page")
        number = _page_number(asked) if asked or not flagged else await _page_holding(ctx, known, flagged)
        screen = await _screen(ctx, known, number, flagged)
    except CardNotFound:
        return _not_found(request, holder)
    chosen = {"transaction_id": request.query_params.get("void", "")}
    return _draw(request, holder, screen, chosen=chosen)


@router.post("/vendor/cards/{card_id}")
async def change_card(request: Request, card_id: str) -> Response:
    """One form per change: `deactivate`, `reactivate`, `void` (`transaction_id`, `reason`, `staff_pin`,
    optional `staff_pin_id`); the page again with what was done, or why not (the API's status: 400, 403 for
    a wrong PIN with the attempts left, 404, 423 while locked). A forged form (no CSRF token) is refused
    403 before anything is read."""
    posted = await posted_form(request)
    if isinstance(posted, Response):
        return posted
    holder, ctx, form = posted
    known = _card_id(card_id)
    try:
        if known is None:
            raise CardNotFound(card_id)
        before = await _screen(ctx, known, _page_number(form.get("page")), frozenset())
    except CardNotFound:
        return _not_found(request, holder)
    action = form.get("action", "")
    try:
        await _apply(ctx, known, action, form)
    except (LoyaltyError, FormProblem) as error:
        # Drawn from what was read before, then rolled back: a wrong PIN is counted as by the API, and a
        # refused void leaves nothing half done. The choices stay (the entry, the reason, the name; never the PIN).
        chosen = {name: value for name, value in form.items() if name != "staff_pin"}
        page = _draw(request, holder, before, status_code=_status(error), chosen=chosen, **_problem(error))
        raise RolledBackAnswer(page) from None
    after = await _screen(ctx, known, before.page, frozenset())
    return _draw(request, holder, after, done=DONE[action])


class FormProblem(Exception):
    """A form the service cannot take as it is; `message` is its msgid. Answered 400."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


async def _apply(ctx: Context, card_id: int, action: str, form: dict[str, str]) -> None:
    """Runs the form's change through the API's services. Raises what they raise, and FormProblem."""
    if action in ("deactivate", "reactivate"):
        await cards.set_card_active(ctx, card_id, action == "reactivate")
    elif action == "void":
        transaction_id = form_int(form.get("transaction_id"))
        if transaction_id is None or not 1 <= transaction_id <= MAX_ID:
            raise FormProblem(CHOOSE_ENTRY)
        entry = await voids.void_transaction(ctx, transaction_id, _void_request(form))
        if entry.card_id != card_id:  # another card's entry: not one this page offers (rolled back)
            raise TransactionNotFound(transaction_id)
    else:
        raise FormProblem(CHOOSE_ACTION)


def _void_request(form: dict[str, str]) -> VoidRequest:
    """The API's void body from the form. Raises FormProblem naming the field to fix (a PIN of the wrong
    shape is a typo, never counted as a wrong guess, as in the API)."""
    try:
        return VoidRequest.model_validate(
            {
                "reason": form.get("reason", "").strip(),
                "staff_pin": form.get("staff_pin", "").strip() or None,
                "staff_pin_id": form_int(form.get("staff_pin_id")),
            }
        )
    except ValidationError as invalid:
        wrong = {str(error["loc"][0]) for error in invalid.errors() if error["loc"]}
        raise FormProblem(GIVE_REASON if "reason" in wrong else PIN_SHAPE) from None


def _status(error: LoyaltyError | FormProblem) -> int:
    return error.status_code if isinstance(error, LoyaltyError) else 400


def _problem(error: LoyaltyError | FormProblem) -> dict[str, Any]:
    """The refusal's message (a msgid) and what staff need next: the PIN attempts left, the lock's end,
    why an entry cannot be voided."""
    if isinstance(error, FormProblem):
        return {"problem": error.message}
    shown: dict[str, Any] = {"problem": error.message}
    if isinstance(error, InvalidStaffPin):
        shown["attempts_left"] = int(error.details["remaining_attempts"])
    elif isinstance(error, StaffPinLocked):
        shown["locked_until"] = datetime.fromisoformat(error.details["locked_until"])
    elif isinstance(error, TransactionNotVoidable):
        shown["why"] = NOT_VOIDABLE.get(error.details["reason"])
    return shown


# --- what a card's page shows ----------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One ledger row as drawn: plain values (a refused change draws them after its rollback)."""

    id: int
    transaction_at: datetime
    transaction_type: str
    stamps_delta: int
    points_delta: int
    stamps_balance_after: int
    points_balance_after: int
    staff_name: str | None
    terminal_name: str | None
    client_ip: str | None
    notes: str | None
    reward_description: str | None
    voids_transaction_id: int | None
    voided_by: int | None  # the void entry that reversed this one
    flagged: bool  # named by `?entries=`

    @property
    def voidable(self) -> bool:
        return self.transaction_type != TransactionType.VOID and self.voided_by is None


@dataclass(frozen=True)
class Screen:
    """Everything a card's page shows, read at once as plain values."""

    card: dict[str, Any]
    customer: dict[str, Any]
    program: dict[str, Any] | None
    entries: list[Entry]
    ledger: Page[TransactionView]  # for the page links only (its items are not drawn)
    page: int
    flagged: frozenset[int]
    apple: wallet_passes.CardWallet
    google: google_wallet.CardGoogleObject | None
    staff: list[tuple[int, str]]


async def _screen(ctx: Context, card_id: int, page: int, flagged: frozenset[int]) -> Screen:
    """The shop's card `card_id` as its page shows it, the ledger's page `page`. Raises CardNotFound (404)."""
    view = await cards.find_card(ctx, cards.CardRef(card_id=card_id))
    ledger = await transactions.card_transactions(
        ctx, card_id, limit=ENTRIES_PER_PAGE, offset=(page - 1) * ENTRIES_PER_PAGE
    )
    voided = await transactions.voids_of(ctx, [item.entry.id for item in ledger.items])
    program = await _program(ctx)
    card, customer = view.card, view.customer
    return Screen(
        card={name: getattr(card, name) for name in _CARD},
        customer={"first_name": first_name(customer.name), "email": customer.email, "erased": customer.erased_at},
        program=_program_values(program) if program else None,
        entries=[_entry(item, voided, flagged) for item in ledger.items],
        ledger=Page([], ledger.total, ledger.limit, ledger.offset),
        page=page,
        flagged=flagged,
        apple=await wallet_passes.card_wallet(ctx, card_id),
        google=await google_wallet.card_google_object(ctx, card_id),
        staff=await _staff(ctx, program),
    )


_CARD = ("id", "card_number", "stamp_count", "points_balance", "is_active", "enrolled_at", "total_stamps_earned")


def _program_values(program: LoyaltyProgram) -> dict[str, Any]:
    return {
        "collects_stamps": program.collects_stamps,
        "collects_points": program.collects_points,
        "stamps_target": program.stamps_target,
        "require_staff_pin": program.require_staff_pin,
    }


def _entry(view: TransactionView, voided: dict[int, int], flagged: frozenset[int]) -> Entry:
    entry = view.entry
    return Entry(
        id=entry.id,
        transaction_at=entry.transaction_at,
        transaction_type=entry.transaction_type,
        stamps_delta=entry.stamps_delta,
        points_delta=entry.points_delta,
        stamps_balance_after=entry.stamps_balance_after,
        points_balance_after=entry.points_balance_after,
        staff_name=view.staff_name,
        terminal_name=view.terminal_name,
        client_ip=entry.client_ip,
        notes=entry.notes,
        reward_description=entry.reward_description,
        voids_transaction_id=entry.voids_transaction_id,
        voided_by=voided.get(entry.id),
        flagged=entry.id in flagged,
    )


async def _program(ctx: Context) -> LoyaltyProgram | None:
    try:
        return await programs.get_program(ctx)
    except ProgramNotFound:
        return None


async def _staff(ctx: Context, program: LoyaltyProgram | None) -> list[tuple[int, str]]:
    """The active staff members (id, name) who may approve a void."""
    if program is None:
        return []
    found = await pins.list_pins(ctx, program, limit=MAX_STAFF, offset=0)
    return [(pin.id, pin.name) for pin in found.items if pin.is_active]


async def _page_holding(ctx: Context, card_id: int, flagged: frozenset[int]) -> int:
    """The ledger's page (newest first, as `transactions.card_transactions` orders it) holding the newest of
    the card's `flagged` entries; 1 when none is the card's."""
    mine = (LoyaltyTransaction.vendor_id == ctx.vendor_id, LoyaltyTransaction.card_id == card_id)
    newest = (
        await ctx.session.execute(
            select(LoyaltyTransaction.transaction_at, LoyaltyTransaction.id)
            .where(*mine, LoyaltyTransaction.id.in_(flagged))
            .order_by(*transactions.NEWEST_FIRST)
            .limit(1)
        )
    ).first()
    if newest is None:
        return 1
    key = tuple_(LoyaltyTransaction.transaction_at, LoyaltyTransaction.id)
    before = await ctx.session.scalar(select(func.count()).where(*mine, key > tuple_(*newest)))
    return int(before or 0) // ENTRIES_PER_PAGE + 1


# --- drawing -------------------------------------------------------------------------------------


def _draw(request: Request, holder: UserHolder, screen: Screen, status_code: int = 200, **context: Any) -> HTMLResponse:
    query: dict[str, str] = {"entries": ",".join(map(str, sorted(screen.flagged)))} if screen.flagged else {}
    links = _page_links(f"/vendor/cards/{screen.card['id']}", query, screen.page, screen.ledger)
    context.setdefault("chosen", {})
    return dashboard_page(
        request, holder, "vendor_card.html", status_code=status_code, screen=screen, labels=TRANSACTION_TYPE_LABELS,
        google_states=GOOGLE_STATES, grouped=format_card_number, **links, **context,
    )  # fmt: skip


def _not_found(request: Request, holder: UserHolder) -> HTMLResponse:
    """The dashboard's 404 page for a card: the same for another shop's, an unknown and a malformed id."""
    return dashboard_page(
        request, holder, "vendor_card.html", status_code=404, screen=None, path="/vendor/cards"
    )  # the path: not a reflection of whatever was typed


def _page_links(path: str, query: dict[str, str], number: int, found: Page[Any]) -> dict[str, Any]:
    """The previous and next pages' URLs (None at either end), keeping the query, and the count of pages."""

    def link(to: int) -> str:
        return f"{path}?{urlencode({**query, 'page': str(to)})}"

    last = max(1, -(-found.total // found.limit)) if found.limit else 1
    return {
        "previous_page": link(min(number, last + 1) - 1) if number > 1 else None,
        "next_page": link(number + 1) if number < last else None,
        "page_count": last,
    }


# --- reading the URL -----------------------------------------------------------------------------


def _card_id(text: str) -> int | None:
    """A card id from the path: ASCII digits within the ids' range, else None (the 404 page)."""
    number = form_int(text)
    return number if number is not None and 1 <= number <= MAX_ID else None


def _page_number(text: str | None) -> int:
    """A page number from 1; anything else (none, "abc", "0", "9" * 50) is the first page or the last we
    count to."""
    number = form_int(text)
    return min(max(number or 1, 1), MAX_PAGE)


def _flagged(text: str) -> frozenset[int]:
    """The ledger entries `?entries=12,13,14` names (at most MAX_FLAGGED; what is no id is left out)."""
    ids = (form_int(part.strip()) for part in text.split(",")[:MAX_FLAGGED])
    return frozenset(number for number in ids if number is not None and 1 <= number <= MAX_ID)
