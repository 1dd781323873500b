"""The counter terminal (PAGES.md, "Staff terminal"): pair a browser, find a card, see the customer, act.

Server-rendered forms that work without JavaScript; `static/terminal.js` enhances them (camera, live
check digit, PIN pad, posting in place with retries, the auto-clear). The operations are the services
the vendor API calls, with the paired terminal as the actor, so every rule (PIN, cooldown, daily limit,
lockout) is the API's. A refused operation is shown and then rolled back (`RolledBackAnswer`), so a wrong
PIN is counted exactly as through the API.

Every action form carries an idempotency key: made when the page is drawn (without JavaScript, a double
submit sends the same one) or when the button is pressed (`crypto.randomUUID`, reused on retry), so a
double tap or a dropped connection never stamps twice.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from babel.numbers import NumberFormatError, get_decimal_symbol, parse_decimal
from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, ValidationError

from loyalty.api.deps import client_block, client_ip, clock_of, settings_of
from loyalty.api.errors import RolledBackAnswer
from loyalty.api.schemas.operations import PointsResult, RedeemResult, StampResult
from loyalty.api.unit_of_work import UnitOfWorkRoute, begin_session, request_unit
from loyalty.errors import (
    CardNotFound,
    CsrfTokenInvalid,
    Forbidden,
    InvalidStaffPin,
    LoyaltyError,
    PairingCodeInvalid,
    ProgramNotFound,
    RateLimited,
    StaffPinLocked,
    StampCooldown,
    TerminalNotPaired,
)
from loyalty.i18n import N_, NP_, translate
from loyalty.models import LoyaltyCard, LoyaltyProgram
from loyalty.models.base import MAX_ID
from loyalty.services import (
    cards,
    idempotency,
    pins,
    points,
    programs,
    rate_limits,
    stamps,
    terminals,
    transactions,
    web_sessions,
)
from loyalty.services.card_numbers import CARD_NUMBER_DIGITS, CHECK_DIGIT_ERROR, format_card_number
from loyalty.services.cards import CardView
from loyalty.services.context import Context
from loyalty.services.terminals import PAIRING_WINDOW_SECONDS
from loyalty.services.wallet_passes import first_name
from loyalty.services.web_sessions import TerminalHolder, csrf_token
from loyalty.web.forms import form_int, read_form
from loyalty.web.languages import page_locale
from loyalty.web.rendering import BABEL_LOCALES, clock_time, render
from loyalty.web.sessions import (
    CSRF_FIELD,
    check_csrf,
    check_form_token,
    clear_session_cookie,
    form_token,
    renew_session_cookie,
    session_token_hash,
    set_form_cookie,
    set_session_cookie,
    terminal_caller,
    terminal_context,
)

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)

PAIR_PAGE = "/terminal/pair"
STAMP, REDEEM_STAMPS, EARN, REWARD = "stamp", "redeem_stamps", "earn", "reward"
MAX_STAFF = 200  # names in the staff list: more than any counter has


# --- pairing -------------------------------------------------------------------------------------


@router.get(PAIR_PAGE)
async def pair_page(request: Request) -> Response:
    return _pair_form(request, error=None)


@router.post(PAIR_PAGE)
async def pair(request: Request) -> Response:
    """Pairs this browser with the code's terminal: the session cookie, then 303 to `/terminal`. The form
    must come from our own page (its token equals this browser's form cookie: 403 otherwise), so no other
    site can pair a shop's tablet with a code of its own. Wrong codes are counted per client address (an
    IPv6 client per /64, what one subscriber holds): LOYALTY_PAIRING_ATTEMPT_LIMIT per 10 minutes, then 429."""
    settings, clock = settings_of(request), clock_of(request)
    form = await read_form(request)
    try:
        check_form_token(request, form.get(CSRF_FIELD))
    except CsrfTokenInvalid as error:
        return _refused(request, page_locale(request), error)
    bucket = f"pair:{client_block(request)}"
    try:
        await rate_limits.hit_apart(
            request_unit(request), settings, clock, bucket,
            limit=settings.pairing_attempt_limit, window_seconds=PAIRING_WINDOW_SECONDS,
        )  # fmt: skip
    except RateLimited:
        return _pair_form(request, error="busy", status_code=429)
    ctx = Context(await begin_session(request), settings, clock)
    try:
        issued = await terminals.pair(
            ctx, form.get("pairing_code", "").replace(" ", ""), client_ip(request), request.headers.get("user-agent")
        )
    except PairingCodeInvalid:
        return _pair_form(request, error="invalid", status_code=400)
    await rate_limits.refund(ctx, bucket, window_seconds=PAIRING_WINDOW_SECONDS)  # only wrong codes count
    if (previous := session_token_hash(request)) is not None:  # this browser was another terminal until now
        await web_sessions.revoke_session(ctx, previous)
    response = RedirectResponse("/terminal", status_code=303)
    set_session_cookie(response, settings, issued.token, settings.terminal_session_days * 24 * 3600)
    return response


def _pair_form(request: Request, *, error: str | None, status_code: int = 200) -> HTMLResponse:
    token = form_token(request)
    page = render(
        request, "terminal_pair.html", page_locale(request), status_code=status_code, counter=True, error=error,
        csrf=token,
    )  # fmt: skip
    set_form_cookie(page, settings_of(request), token)
    return page


# --- the counter screen --------------------------------------------------------------------------


@dataclass(frozen=True)
class Banner:
    """The result of the last action: `ok` (green, announced politely) or not (red, assertive)."""

    ok: bool
    message: str
    detail: str | None = None


@router.get("/terminal")
async def counter_page(request: Request) -> Response:
    holder = await _holder(request)
    if isinstance(holder, Response):
        return holder
    ctx = await terminal_context(request, holder)
    return _draw(request, holder, await _screen(ctx, holder, None))


@router.post("/terminal/find")
async def find(request: Request) -> Response:
    """Finds a card by the scanned QR payload, the typed number or the customer's exact e-mail."""
    posted = await _posted(request)
    if isinstance(posted, Response):
        return posted
    holder, form, ctx, locale = posted
    try:
        view = await _find_card(ctx, form)
    except LoyaltyError as error:
        return _draw(request, holder, await _screen(ctx, holder, None), _refusal(error, locale, holder), 404)
    except ValidationError as invalid:
        if not any(error["type"] == CHECK_DIGIT_ERROR for error in invalid.errors()):
            return _draw(
                request, holder, await _screen(ctx, holder, None), _refusal(CardNotFound(), locale, holder), 404
            )
        banner = Banner(False, translate("The card number's check digit does not match: a typo?", locale))
        return _draw(request, holder, await _screen(ctx, holder, None), banner, 400)
    return _draw(request, holder, await _screen(ctx, holder, view))


async def _find_card(ctx: Context, form: dict[str, str]) -> CardView:
    """The card of the form's first given field: the scanned QR, the e-mail, the typed number."""
    for field, longest in (("qr_code", 64), ("email", 320), ("card_number", 40)):
        if value := form.get(field, "").strip():
            return await cards.look_up(ctx, cards.CardLookup.model_validate({field: value[:longest]}))
    raise CardNotFound()


@router.post("/terminal/act")
async def act(request: Request) -> Response:
    """Stamps, gives the stamp reward, earns points on an amount in euros or gives a catalogue reward,
    approved by the chosen staff member's PIN; then the screen again with the result's banner. The form's
    idempotency key (or the `Idempotency-Key` header the page's script sends) makes a repeat show the
    first answer instead of acting twice."""
    posted = await _posted(request)
    if isinstance(posted, Response):
        return posted
    holder, form, ctx, locale = posted
    key = (request.headers.get("idempotency-key") or form.get("idempotency_key") or secrets.token_urlsafe(16))[:255]
    scope = f"terminal:{holder.terminal_id}"
    signed = "&".join(f"{name}={value}" for name, value in sorted(form.items()) if name != "idempotency_key")
    try:
        stored = await idempotency.claim(
            ctx, scope, key, idempotency.fingerprint("POST", "/terminal/act", signed.encode())
        )
        view = await cards.find_card(ctx, cards.CardRef(card_id=form_int(form.get("card_id")) or MAX_ID))
    except LoyaltyError as error:  # the key is released with the rollback: a retry may use it again
        page = _draw(request, holder, await _screen(ctx, holder, None), _refusal(error, locale, holder), 400)
        raise RolledBackAnswer(page) from None
    before = await _screen(ctx, holder, view)
    if stored is not None:  # a repeat: the first answer's banner over the card as it is now
        return _draw(request, holder, before, Banner(True, stored.body))
    try:
        message, card = await _perform(ctx, form, view, locale)
    except (LoyaltyError, FormProblem) as error:
        # Drawn from what was read before the action, then rolled back: a wrong PIN is counted as by the API.
        # The staff's choices stay (the action, the amount, the name; never the PIN).
        if isinstance(error, LoyaltyError):
            banner, status = _refusal(error, locale, holder), error.status_code
        else:
            banner, status = Banner(False, translate(error.message, locale)), 400
        raise RolledBackAnswer(_draw(request, holder, before, banner, status, chosen=form)) from None
    await idempotency.remember(ctx, scope, key, idempotency.StoredAnswer(201, message))
    after = CardView(card=card, customer=view.customer)
    return _draw(request, holder, await _screen(ctx, holder, after), Banner(True, message))


class FormProblem(Exception):
    """A counter form that cannot be sent to the service as it is; `message` is its msgid."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


BodyT = TypeVar("BodyT", bound=BaseModel)
AMOUNT_PROBLEM = N_("Type the amount in euros, for example 4,50")
PIN_PROBLEM = N_("Type the PIN: 4 to 8 digits")
ACTION_PROBLEM = N_("Choose what to do")


async def _perform(ctx: Context, form: dict[str, str], view: CardView, locale: str) -> tuple[str, LoyaltyCard]:
    """Runs the form's action; returns the API's localised message for it and the card after it. Raises
    what the service raises, and FormProblem for a form the service cannot take (no action chosen, a PIN
    of the wrong shape, an amount that is none)."""
    approval: dict[str, Any] = {
        "card_id": view.card.id,
        "staff_pin": form.get("staff_pin") or None,
        "staff_pin_id": form_int(form.get("staff_pin_id")),
    }
    action = form.get("action", "")
    if action == STAMP:
        stamped = await stamps.add_stamp(ctx, _body(stamps.StampRequest, approval))
        return StampResult.from_outcome(stamped, locale).message, stamped.card
    if action == REDEEM_STAMPS:
        redeemed = await stamps.redeem_stamps(ctx, _body(stamps.StampRequest, approval))
        return RedeemResult.from_outcome(redeemed, locale).message, redeemed.card
    if action == EARN:
        try:
            cents = euros_to_cents(form.get("amount", ""), locale)
        except ValueError:
            raise FormProblem(AMOUNT_PROBLEM) from None
        earned = await points.earn_points(ctx, _body(points.EarnRequest, {**approval, "purchase_amount_cents": cents}))
        return PointsResult.from_outcome(earned, locale).message, earned.card
    if action.startswith(f"{REWARD}:"):
        body = _body(points.PointsRedeemRequest, {**approval, "reward_id": form_int(action.partition(":")[2]) or 0})
        spent = await points.redeem_points(ctx, body)
        return PointsResult.from_outcome(spent, locale).message, spent.card
    raise FormProblem(ACTION_PROBLEM)


def _body(model: type[BodyT], fields: dict[str, Any]) -> BodyT:
    """The service's request body from the form's fields. Raises FormProblem naming the field to fix."""
    try:
        return model.model_validate(fields)
    except ValidationError as invalid:
        wrong = {str(error["loc"][0]) for error in invalid.errors() if error["loc"]}
        raise FormProblem(AMOUNT_PROBLEM if "purchase_amount_cents" in wrong else PIN_PROBLEM) from None


# An amount as typed at a counter: euros with at most two decimals after "," or "." ("4,50", "4.50", "12").
_PLAIN_AMOUNT = re.compile(r"^(\d{1,7})(?:[.,](\d{1,2}))?$")
_AMOUNT_CHARACTERS = re.compile(r"^[0-9.,]+$")


def euros_to_cents(typed: str, locale: str) -> int:
    """The amount typed in euros → cents. "4,50" and "4.50" are 450 in every language: a counter amount
    has at most two decimals, so a single separator followed by one or two digits is the decimal one.
    Anything else made of digits, separators and spaces is read by the locale's rules (Babel, strict:
    "1.234,50" in German, "1 234,50" in French) if it holds the locale's decimal sign, since "4.505" in
    German is more likely a typo of 4,50 than €4,505. Raises ValueError for what is not an amount."""
    # Spaces only ever group digits ("1 234,50", with a no-break or narrow no-break space in French).
    text = re.sub(r"[\s\u00a0\u202f]", "", typed.replace("€", ""))
    if not _AMOUNT_CHARACTERS.match(text):
        raise ValueError("not an amount")
    if match := _PLAIN_AMOUNT.match(text):
        amount = Decimal(f"{match.group(1)}.{(match.group(2) or '0').ljust(2, '0')}")
    elif get_decimal_symbol(BABEL_LOCALES[locale]) in text:
        try:
            amount = parse_decimal(text, locale=BABEL_LOCALES[locale], strict=True)
        except (NumberFormatError, ArithmeticError) as exc:
            raise ValueError("not an amount") from exc
    else:
        raise ValueError("digits grouped without a decimal part: ambiguous")
    cents = amount * 100
    if not cents.is_finite() or cents != cents.to_integral_value() or cents <= 0:
        raise ValueError("not an amount in euros and cents")
    return int(cents)


# --- drawing the screen --------------------------------------------------------------------------


async def _screen(ctx: Context, holder: TerminalHolder, view: CardView | None) -> dict[str, Any]:
    """What the screen shows, read from the database: the programme, the staff list, the customer."""
    try:
        program: LoyaltyProgram | None = await programs.get_program(ctx)
    except ProgramNotFound:
        program = None
    staff: list[tuple[int, str]] = []
    if program is not None:
        found = await pins.list_pins(ctx, program, limit=MAX_STAFF, offset=0)
        staff = [(pin.id, pin.name) for pin in found.items if pin.is_active]
    customer = await _customer(ctx, holder, program, view) if view is not None and program is not None else None
    return {
        "program": program,
        "staff": staff,
        "customer": customer,
        "csrf": csrf_token(ctx.settings, holder.token_hash),
    }


def _draw(
    request: Request, holder: TerminalHolder, screen: dict[str, Any], banner: Banner | None = None,
    status_code: int = 200, chosen: dict[str, str] | None = None,
) -> HTMLResponse:  # fmt: skip
    """The counter screen; `chosen`: the refused form, whose action, amount and staff member stay chosen."""
    kept = {name: value for name, value in (chosen or {}).items() if name in ("action", "amount", "staff_pin_id")}
    page = render(
        request, "terminal.html", _locale(request, holder), status_code=status_code, timezone=holder.timezone,
        counter=True, holder=holder, banner=banner, action_key=secrets.token_urlsafe(16),
        card_number_digits=CARD_NUMBER_DIGITS, chosen=kept, **screen,
    )  # fmt: skip
    renew_session_cookie(request, page)  # the session slides: so must the cookie's own end
    return page


async def _customer(ctx: Context, holder: TerminalHolder, program: LoyaltyProgram, view: CardView) -> dict[str, Any]:
    card, customer = view.card, view.customer
    latest = await transactions.recent_for_card(ctx, card.id, holder.vendor_id, count=1)
    readiness = stamps.stamp_readiness(program, card, ctx.clock.now(), holder.timezone)
    rewards = [
        {
            "id": reward["id"],
            "name": reward["name"],
            "points": reward["points_required"],
            "missing": max(0, reward["points_required"] - card.points_balance),
        }
        for reward in program.points_rewards
        if reward.get("is_active", True)
    ]
    return {
        "card": card,
        "name": None if customer.erased_at is not None else first_name(customer.name),
        "number": format_card_number(card.card_number),
        "readiness": readiness,
        "rewards": rewards,
        "stamp_reward_ready": card.stamp_count >= program.stamps_target,
        "last_visit": latest[0].entry.transaction_at if latest else None,
    }


def _refusal(error: LoyaltyError, locale: str, holder: TerminalHolder) -> Banner:
    """The API's localised message, and what staff need next: when the cooldown or the lock ends (local
    time), how many PIN attempts are left."""
    detail = None
    if isinstance(error, StampCooldown):
        detail = _at(error.details["cooldown_ends"], N_("Next stamp from {time}"), locale, holder)
    elif isinstance(error, StaffPinLocked):
        detail = _at(error.details["locked_until"], N_("Locked until {time}"), locale, holder)
    elif isinstance(error, InvalidStaffPin):
        left = int(error.details["remaining_attempts"])
        detail = translate(NP_("{count} attempt left", "{count} attempts left", count="count"), locale, count=left)
    return Banner(False, error.localised_message(locale), detail)


def _at(instant: str, message: str, locale: str, holder: TerminalHolder) -> str:
    return translate(message, locale, time=clock_time(datetime.fromisoformat(instant), holder.timezone, locale))


# --- plumbing ------------------------------------------------------------------------------------


async def _holder(request: Request) -> TerminalHolder | Response:
    """The paired terminal, or a 303 to the pairing page for a browser that is not (any more) one, or the
    refusal page when the platform switched the shop off."""
    try:
        return await terminal_caller(request)
    except TerminalNotPaired:
        response = RedirectResponse(PAIR_PAGE, status_code=303)
        clear_session_cookie(response, settings_of(request))  # a session that ended: the cookie goes too
        return response
    except Forbidden as error:
        return _refused(request, page_locale(request), error)


async def _posted(request: Request) -> tuple[TerminalHolder, dict[str, str], Context, str] | Response:
    """A counter form's terminal, fields, context and language, once its CSRF token is checked; or the
    answer for a browser that is no (live) terminal. Raises RolledBackAnswer (403) for a forged form."""
    holder = await _holder(request)
    if isinstance(holder, Response):
        return holder
    form = await read_form(request)
    _check_form(request, holder, form)
    return holder, form, await terminal_context(request, holder), _locale(request, holder)


def _check_form(request: Request, holder: TerminalHolder, form: dict[str, str]) -> None:
    """CSRF: the form's token, or the header the page's script sends. Raises CsrfTokenInvalid (403)."""
    try:
        check_csrf(request, holder, request.headers.get("x-csrf-token") or form.get(CSRF_FIELD))
    except CsrfTokenInvalid as error:
        raise RolledBackAnswer(_refused(request, _locale(request, holder), error)) from None


def _refused(request: Request, locale: str, error: LoyaltyError) -> HTMLResponse:
    """The page of a request refused as a whole (a forged form, a switched-off shop): nothing was recorded."""
    return render(request, "terminal_refused.html", locale, status_code=error.status_code, counter=True, error=error)


def _locale(request: Request, holder: TerminalHolder) -> str:
    return page_locale(request, vendor_locale=holder.locale)
