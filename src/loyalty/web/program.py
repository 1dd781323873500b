"""The dashboard's programme page (PAGES.md, "Vendor dashboard" → Programme): create the shop's programme, then
change every setting of API.md's ProgramCreate, switch the programme off and on, keep the rewards catalogue
(add, change, switch off, remove: ids are never reused, services/programs.py), up to 10 shop locations, the
card's colour (with its contrast, also checked live by static/program.js) and the logo (an upload re-encoded
by services/logos.py).

Every change goes through the services the API uses, so a change to what passes show repaints every pass
through the outbox. Owners and managers alike: the API gives the programme to its `owner` scope, the one a
manager's dashboard acts with everywhere but users and terminals. A refused change is drawn from the values
read before it, with what was typed, and rolled back (`RolledBackAnswer`).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from babel.numbers import NumberFormatError, format_decimal, parse_decimal
from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from loyalty.api.errors import RolledBackAnswer
from loyalty.api.unit_of_work import UnitOfWorkRoute
from loyalty.errors import CsrfTokenInvalid, LoyaltyError, ProgramNotFound
from loyalty.i18n import N_, Message
from loyalty.models import LoyaltyProgram
from loyalty.services import logos, programs
from loyalty.services.context import Context
from loyalty.services.logos import LogoRefused
from loyalty.services.programs import MOST_SHOP_LOCATIONS, ProgramCreate, ProgramUpdate
from loyalty.services.web_sessions import UserHolder
from loyalty.wallet.colors import BLACK, WHITE, contrast_ratio, parse_hex, readable_text
from loyalty.web.dashboard import dashboard_page, posted_form, refused, who_signed_in
from loyalty.web.forms import form_int
from loyalty.web.languages import page_locale
from loyalty.web.rendering import BABEL_LOCALES
from loyalty.web.sessions import CSRF_FIELD, check_csrf

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)

DONE = {
    "create": N_("The programme is created and switched on."),
    "settings": N_("Settings saved."),
    "colour": N_("Colour saved."),
    "activate": N_("Switched on: the counter gives and redeems again."),
    "deactivate": N_("Switched off: the counter refuses stamps, points and rewards until you switch it on again."),
    "reward_add": N_("Reward added."),
    "reward_edit": N_("Reward changed."),
    "reward_off": N_("Reward switched off: it cannot be redeemed until switched on again."),
    "reward_on": N_("Reward switched on."),
    "reward_remove": N_("Reward removed."),
    "location_add": N_("Shop added."),
    "location_remove": N_("Shop removed."),
    "logo": N_("Logo saved: the wallet passes show it from their next update."),
    "logo_remove": N_("Logo removed: the wallet passes show the shop's initial again."),
}
CHECK_FIELDS = N_("Nothing was saved: check the fields marked below.")
UNKNOWN_ACTION = N_("This form is not one of this page's.")
NO_SUCH_REWARD = N_("This reward is not in the catalogue (any more).")
NO_SUCH_SHOP = N_("This shop is not in the list (any more): the page shows the list as it is now.")
MOST_SHOPS = N_("A programme has at most 10 shops (Apple Wallet shows a pass near at most 10 places).")
UNREADABLE_UPLOAD = N_("The upload could not be read: choose the file again.")
FIELD_PROBLEMS: dict[str, Message] = {
    "program_type": N_("Choose stamps, points or both."),
    "name": N_("Give the programme a name of at most 200 characters."),
    "stamps_target": N_("A whole number from 1 to 1000."),
    "stamps_reward_description": N_("At most 500 characters."),
    "points_per_euro": N_("A number from 0 to 10000 with at most 4 decimals, such as 1.5."),
    "cooldown_minutes": N_("A whole number of minutes from 0 to 10080 (a week)."),
    "max_daily_stamps": N_("A whole number from 1 to 1000."),
    "card_name": N_("At most 200 characters."),
    "card_color": N_("A colour as # and six hexadecimal digits, such as #1f6feb."),
    "terms": N_("At most 20000 characters."),
    "reward_name": N_("Give the reward a name of at most 200 characters."),
    "reward_points": N_("A whole number of points, at least 1."),
    "latitude": N_("Degrees north, from -90 to 90, such as 49.6116."),
    "longitude": N_("Degrees east, from -180 to 180, such as 6.1319."),
    "relevant_text": N_("At most 100 characters."),
}
_REWARD_FIELDS = {"name": "reward_name", "points_required": "reward_points"}
_WHOLE = ("stamps_target", "cooldown_minutes", "max_daily_stamps")
_OPTIONAL_TEXT = ("stamps_reward_description", "card_name", "terms")
_COORDINATE = re.compile(r"^-?\d{1,3}(?:[.,]\d{1,12})?$")
_COLUMNS = tuple(column.key for column in LoyaltyProgram.__table__.columns)
_HEX = re.compile(r"^#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})$")


class Refused(Exception):
    """A change the page refuses: `message` (a msgid) for the banner, the fields it concerns (their input
    names → a msgid each), the answer's status."""

    def __init__(self, message: Message, status: int = 400, fields: dict[str, Message] | None = None) -> None:
        super().__init__(message)
        self.message, self.status, self.fields = message, status, fields or {}


@router.get("/vendor/program")
async def program_page(request: Request) -> Response:
    signed_in = await who_signed_in(request)
    if isinstance(signed_in, Response):
        return signed_in
    holder, ctx = signed_in
    return _draw(request, holder, await _screen(ctx))


@router.post("/vendor/program")
async def change_program(request: Request) -> Response:
    """One form per change (`action`): `create`, `settings`, `colour`, `activate`, `deactivate`, `reward_add`,
    `reward_edit`, `reward_off`, `reward_on`, `reward_remove` (a `reward_id`), `location_add`,
    `location_remove` (its `index` and coordinates as drawn), `logo_remove`; the page again with what was
    done, or why not (400, 404, 409, 422) and what was typed."""
    posted = await posted_form(request)
    if isinstance(posted, Response):
        return posted
    holder, ctx, form = posted
    action = form.get("action", "")
    before = await _screen(ctx)
    try:
        await _apply(ctx, before["program"], action, form, _locale(request, holder))
    except (Refused, ValidationError, LoyaltyError) as error:
        raise RolledBackAnswer(_refusal(request, holder, before, action, form, error)) from None
    return _draw(request, holder, await _screen(ctx), done=DONE.get(action), action=action)


@router.post("/vendor/program/logo")
async def upload_logo(request: Request) -> Response:
    """The logo upload (multipart: `csrf_token`, `logo`); its body may be larger than a form's (api/limits.py).
    The page again with the logo, or why it was refused (400, 413)."""
    signed_in = await who_signed_in(request)
    if isinstance(signed_in, Response):
        return signed_in
    holder, ctx = signed_in
    before = await _screen(ctx)
    try:
        async with request.form(max_files=1, max_fields=10) as form:
            token, upload = form.get(CSRF_FIELD), form.get("logo")
            check_csrf(request, holder, token if isinstance(token, str) else None)
            data = await upload.read() if isinstance(upload, UploadFile) else b""
    except CsrfTokenInvalid as error:
        return refused(request, holder, error)
    except HTTPException:  # Starlette's answer to a multipart body it cannot parse
        return _draw(request, holder, before, problem=UNREADABLE_UPLOAD, action="logo", status_code=400)
    try:
        if before["program"] is None:
            raise ProgramNotFound()
        await logos.save_logo(ctx, data)
    except (LogoRefused, LoyaltyError) as error:
        status = error.status_code if isinstance(error, LoyaltyError) else _logo_status(error)
        page = _draw(request, holder, before, problem=error.message, action="logo", status_code=status)
        raise RolledBackAnswer(page) from None
    return _draw(request, holder, await _screen(ctx), done=DONE["logo"], action="logo")


def _logo_status(refusal: LogoRefused) -> int:
    return 413 if refusal.message in (logos.TOO_LARGE, logos.TOO_MANY_PIXELS) else 400


# --- the changes ---------------------------------------------------------------------------------


async def _apply(ctx: Context, program: dict[str, Any] | None, action: str, form: dict[str, str], locale: str) -> None:
    """Makes the change the form asks for through the services. Raises Refused, ValidationError (the
    services' rules) and the services' LoyaltyErrors."""
    if action == "create":
        fields = {**_settings(form, locale), "card_color": _colour(form)}
        await programs.create_program(ctx, ProgramCreate.model_validate(fields))
        return
    if program is None:
        raise ProgramNotFound()
    if action in ("activate", "deactivate"):
        await programs.set_program_active(ctx, await programs.get_program(ctx), action == "activate")
    elif action == "logo_remove":
        await logos.remove_logo(ctx)
    else:
        await programs.update_program(ctx, ProgramUpdate.model_validate(_changes(program, action, form, locale)))


def _changes(program: dict[str, Any], action: str, form: dict[str, str], locale: str) -> dict[str, Any]:
    """The ProgramUpdate fields of one form. Raises Refused."""
    if action == "settings":
        return _settings(form, locale)
    if action == "colour":
        return {"card_color": _colour(form)}
    if action.startswith("reward_"):
        return {"points_rewards": _catalogue(program["points_rewards"], action, form)}
    if action.startswith("location_"):
        return {"locations": _shops(program["locations"], action, form, locale)}
    raise Refused(UNKNOWN_ACTION)


def _settings(form: dict[str, str], locale: str) -> dict[str, Any]:
    """The settings form's fields, typed. Raises Refused naming each field that is not a number."""
    problems: dict[str, Message] = {}
    fields: dict[str, Any] = {
        "program_type": form.get("program_type", ""),
        "name": form.get("name", "").strip(),
        "require_staff_pin": form.get("require_staff_pin") == "on",
    }
    for name in _WHOLE:
        fields[name] = form_int(form.get(name, "").strip())
        if fields[name] is None:
            problems[name] = FIELD_PROBLEMS[name]
    for name in _OPTIONAL_TEXT:
        fields[name] = form.get(name, "").replace("\r\n", "\n").strip() or None
    try:
        fields["points_per_euro"] = decimal_in(form.get("points_per_euro", ""), locale)
    except ValueError:
        problems["points_per_euro"] = FIELD_PROBLEMS["points_per_euro"]
    if problems:
        raise Refused(CHECK_FIELDS, fields=problems)
    return fields


def decimal_in(typed: str, locale: str) -> Decimal:
    """A decimal number as the page's language writes it ("1,5" in French, German, Luxembourgish; "1.5" in
    English), read by Babel's strict rules ("1.000" is a thousand in German). "1.5" is also read where the comma
    is the decimal sign: every keyboard has the dot, and a group of one or two digits is no thousands group.
    Raises ValueError for anything else."""
    text = re.sub(r"[\s\u00a0\u202f]", "", typed)
    if not text or len(text) > 30:
        raise ValueError("not a number")
    try:
        value = parse_decimal(text, locale=BABEL_LOCALES[locale], strict=True)
    except (NumberFormatError, ArithmeticError):
        if not re.fullmatch(r"\d+\.\d{1,2}", text):
            raise ValueError("not a number in this language") from None
        value = Decimal(text)
    if not value.is_finite():
        raise ValueError("not a finite number")
    return value


def _colour(form: dict[str, str]) -> str | None:
    """The colour chosen, `#rrggbb`, or None (the default) when the text field is emptied. The form has a
    colour picker and a text field for the same colour (kept equal by static/program.js); without script,
    whichever of them differs from the colour drawn (`card_color_before`) was the one changed. Raises Refused."""
    before = form.get("card_color_before", "").strip().lower()
    typed, picked = form.get("card_color", "").strip(), form.get("card_color_picker", "").strip()
    chosen = picked if typed.lower() == before and picked.lower() != before else typed
    if not chosen:
        return None
    match = _HEX.match(chosen)
    if match is None:
        raise Refused(CHECK_FIELDS, fields={"card_color": FIELD_PROBLEMS["card_color"]})
    digits = match.group(1).lower()
    return "#" + (digits if len(digits) == 6 else "".join(digit * 2 for digit in digits))


def _catalogue(current: list[dict[str, Any]], action: str, form: dict[str, str]) -> list[dict[str, Any]]:
    """The catalogue after one reward form: entries keep their ids (the service gives a new one the next id
    never given). Raises Refused."""
    entries = [dict(entry) for entry in current]
    if action == "reward_add":
        return [*entries, _reward_fields(form)]
    reward_id = form_int(form.get("reward_id"))
    index = next((i for i, entry in enumerate(entries) if entry.get("id") == reward_id), None)
    if index is None:
        raise Refused(NO_SUCH_REWARD, 404)
    if action == "reward_edit":
        entries[index].update(_reward_fields(form))
    elif action in ("reward_off", "reward_on"):
        entries[index]["is_active"] = action == "reward_on"
    elif action == "reward_remove":
        del entries[index]
    else:
        raise Refused(UNKNOWN_ACTION)
    return entries


def _reward_fields(form: dict[str, str]) -> dict[str, Any]:
    points = form_int(form.get("reward_points", "").strip())
    if points is None:
        raise Refused(CHECK_FIELDS, fields={"reward_points": FIELD_PROBLEMS["reward_points"]})
    return {"name": form.get("reward_name", "").strip(), "points_required": points}


def _shops(current: list[dict[str, Any]], action: str, form: dict[str, str], locale: str) -> list[dict[str, Any]]:
    """The shop locations after one form. A shop is removed by its place in the list and its coordinates
    as drawn, so a list changed meanwhile (another tab) loses no other shop. Raises Refused."""
    shops = [dict(shop) for shop in current]
    if action == "location_add":
        if len(shops) >= MOST_SHOP_LOCATIONS:
            raise Refused(MOST_SHOPS, 409)
        return [*shops, _shop_fields(form)]
    if action != "location_remove":
        raise Refused(UNKNOWN_ACTION)
    index = form_int(form.get("index"))
    drawn = (form.get("latitude", ""), form.get("longitude", ""))
    if index is None or index >= len(shops) or drawn != _drawn_coordinates(shops[index]):
        raise Refused(NO_SUCH_SHOP, 404)
    del shops[index]
    return shops


def _shop_fields(form: dict[str, str]) -> dict[str, Any]:
    problems: dict[str, Message] = {}
    shop: dict[str, Any] = {"relevant_text": form.get("relevant_text", "").strip() or None}
    for name in ("latitude", "longitude"):
        typed = form.get(name, "").strip().replace("\u2212", "-")  # the minus sign a phone may offer
        if _COORDINATE.match(typed):
            shop[name] = float(typed.replace(",", "."))  # never grouped: one separator is the decimal one
        else:
            problems[name] = FIELD_PROBLEMS[name]
    if problems:
        raise Refused(CHECK_FIELDS, fields=problems)
    return shop


def _drawn_coordinates(shop: dict[str, Any]) -> tuple[str, str]:
    """A shop's coordinates as the page's remove form carries them (the way Python writes them)."""
    return repr(float(shop["latitude"])), repr(float(shop["longitude"]))


# --- drawing -------------------------------------------------------------------------------------


def _refusal(
    request: Request,
    holder: UserHolder,
    before: dict[str, Any],
    action: str,
    form: dict[str, str],
    error: Refused | ValidationError | LoyaltyError,
) -> HTMLResponse:
    """The page as it was, saying why the change was refused, with what was typed kept in its fields."""
    if isinstance(error, Refused):
        message, status, fields = error.message, error.status, error.fields
    elif isinstance(error, LoyaltyError):
        message, status, fields = error.message, error.status_code, {}
    else:
        message, status, fields = CHECK_FIELDS, 400, _field_problems(error)
    typed = {name: value for name, value in form.items() if name != CSRF_FIELD}
    return _draw(
        request, holder, before, problem=message, errors=fields, typed=typed, action=action, status_code=status
    )


def _field_problems(error: ValidationError) -> dict[str, Message]:
    """The services' refusal as the fields it concerns (their input names) and what each must be."""
    fields: dict[str, Message] = {}
    for item in error.errors():
        where = [str(part) for part in item["loc"]]
        if where[:1] == ["locations"] and item["type"] == "too_long":
            fields["latitude"] = MOST_SHOPS
            continue
        name = where[-1] if where[:1] in (["locations"], ["points_rewards"]) else (where[0] if where else "")
        name = _REWARD_FIELDS.get(name, name) if where[:1] == ["points_rewards"] else name
        fields.setdefault(name, FIELD_PROBLEMS.get(name, CHECK_FIELDS))
    return fields


async def _screen(ctx: Context) -> dict[str, Any]:
    """What the page shows, as plain values (a refused change is drawn from them after its rollback): the
    programme's columns (None: no programme yet) and its logo's digest and size."""
    program = await programs.current_program(ctx)
    if program is None:
        return {"program": None, "logo": None}
    logo = await logos.logo_of(ctx, program)
    shown = {column: getattr(program, column) for column in _COLUMNS}
    shown["points_rewards"] = [dict(entry) for entry in program.points_rewards or []]
    shown["locations"] = [dict(shop) for shop in program.locations or []]
    drawn = {"digest": logo.digest, "width": logo.width, "height": logo.height} if logo else None
    return {"program": shown, "logo": drawn}


def _locale(request: Request, holder: UserHolder) -> str:
    return page_locale(request, vendor_locale=holder.locale)


def _draw(
    request: Request, holder: UserHolder, screen: dict[str, Any], status_code: int = 200, **context: Any
) -> HTMLResponse:
    locale = _locale(request, holder)
    program = screen["program"]
    context.setdefault("errors", {})
    context.setdefault("typed", {})
    return dashboard_page(
        request, holder, "vendor_program.html", status_code=status_code, **screen, **context,
        values=_values(program, locale), contrast=contrast(program["card_color"] if program else None),
        decimal=lambda value: format_decimal(value, format="0.####", locale=BABEL_LOCALES[locale]),
        coordinate=lambda value: format_decimal(value, format="0.######", locale=BABEL_LOCALES[locale]),
        ratio=lambda value: format_decimal(value, format="0.0", locale=BABEL_LOCALES[locale]),
        drawn_coordinates=_drawn_coordinates, logo_path=logos.public_path, most_shops=MOST_SHOP_LOCATIONS,
        most_logo_bytes=logos.MOST_LOGO_BYTES, default_colour=contrast(None)["background"],
        FIELD_COLOUR=FIELD_PROBLEMS["card_color"], TOO_LARGE=logos.TOO_LARGE,
    )  # fmt: skip


def _values(program: dict[str, Any] | None, locale: str) -> dict[str, Any]:
    """The settings form's values as drawn: the programme's, or ProgramCreate's defaults for a new one."""
    fields = ProgramCreate.model_fields.items()
    defaults = {name: field.get_default(call_default_factory=True) for name, field in fields if not field.is_required()}
    source = program or {**defaults, "program_type": "stamps", "name": ""}
    values = {name: source.get(name) for name in (*_WHOLE, *_OPTIONAL_TEXT, "program_type", "name")}
    values["points_per_euro"] = format_decimal(source["points_per_euro"], format="0.####", locale=BABEL_LOCALES[locale])
    values["require_staff_pin"] = bool(source["require_staff_pin"])
    values["card_color"] = source.get("card_color") or ""
    return values


def contrast(card_color: str | None) -> dict[str, Any]:
    """The card colour's contrast, as the passes choose their text (wallet/colors.py): the background as
    `#rrggbb`, the text colour the passes use ("black" or "white") and the WCAG 2.x contrast ratio of black
    and of white text on it."""
    background = parse_hex(card_color)
    text = readable_text(background)
    return {
        "background": "#" + "".join(f"{channel:02x}" for channel in background),
        "text": "black" if text == BLACK else "white",
        "text_hex": "#000000" if text == BLACK else "#ffffff",
        "black": contrast_ratio(BLACK, background),
        "white": contrast_ratio(WHITE, background),
    }
