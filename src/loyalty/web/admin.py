"""The platform admin's overview (PAGES.md, "Platform admin"), for admins signed in at `/admin/login`: the
platform's totals, its vendors with their programme, state, cards, ledger entries (all and the last 30 days)
and last activity, each linking to its page, and "Create a vendor" (the admin API's vendor create), which
then opens the new vendor's page.

Also the admin pages' plumbing (`admin_signed_in`, `admin_form`, `admin_page`) and the vendor form's fields
and their problems, shared with web/admin_vendors.py. Admins read times in UTC (a platform spans time
zones) and pages in the browser's language."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from loyalty.api.errors import RolledBackAnswer
from loyalty.api.unit_of_work import UnitOfWorkRoute
from loyalty.errors import CsrfTokenInvalid, Forbidden, LoyaltyError, Unauthenticated
from loyalty.i18n import N_, Message
from loyalty.models import UserRole
from loyalty.services import stats, vendors, wallet_health
from loyalty.services.context import Context
from loyalty.services.vendors import VendorCreate
from loyalty.services.web_sessions import UserHolder, csrf_token
from loyalty.web.accounts import ADMIN_LOGIN_PAGE
from loyalty.web.forms import read_form
from loyalty.web.languages import page_locale
from loyalty.web.rendering import render
from loyalty.web.sessions import CSRF_FIELD, check_csrf, user_caller, user_context

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)

MAX_VENDORS = 500  # on one page; the admin API pages through more
ADMIN_TIMEZONE = "UTC"
# What each vendor field must be, said when the form's value is refused (VendorCreate, VendorUpdate).
VENDOR_FIELD_PROBLEMS = {
    "name": N_("Give the shop a name of at most 200 characters."),
    "slug": N_(
        "The web address takes lowercase letters, digits and single hyphens between them (like cafe-du-coin), "
        "at most 100 characters."
    ),
    "timezone": N_("Give a time zone from the IANA list, like Europe/Luxembourg."),
    "default_locale": N_("Choose one of the four languages."),
}
VENDOR_FIELDS = tuple(VENDOR_FIELD_PROBLEMS)


@router.get("/admin")
async def overview(request: Request) -> Response:
    signed_in = await admin_signed_in(request)
    if isinstance(signed_in, Response):
        return signed_in
    holder, ctx = signed_in
    return _draw(request, holder, await _overview_of(ctx), typed={"timezone": ctx.settings.default_timezone})


@router.post("/admin")
async def create_vendor(request: Request) -> Response:
    """ "Create a vendor" (name; web address, time zone and language optional, as the admin API's create): 303 to
    the new vendor's page; a refused form is the overview again with the problem (400, 409), nothing made."""
    posted = await admin_form(request)
    if isinstance(posted, Response):
        return posted
    holder, ctx, form = posted
    before = await _overview_of(ctx)
    typed = vendor_form(form)
    try:
        fields = VendorCreate(
            name=typed["name"],
            slug=typed["slug"] or None,
            timezone=typed["timezone"] or None,
            default_locale=typed["default_locale"] or "en",
        )
        vendor = await vendors.create_vendor(ctx, fields)
    except (ValidationError, LoyaltyError) as error:
        problem, field, status = vendor_problem(error)
        page = _draw(request, holder, before, typed=typed, problem=problem, problem_field=field, status_code=status)
        raise RolledBackAnswer(page) from None
    return RedirectResponse(f"/admin/vendors/{vendor.id}?created=1", status_code=303)


async def _overview_of(ctx: Context) -> dict[str, Any]:
    """The overview's figures as plain values: a refused form is drawn from them after its rollback."""
    summaries = await stats.vendor_summaries(ctx, limit=MAX_VENDORS)
    rows = [
        {
            "id": row.vendor.id,
            "name": row.vendor.name,
            "slug": row.vendor.slug,
            "is_active": row.vendor.is_active,
            "program_type": row.program_type,
            "program_active": row.program_active,
            "cards": row.cards,
            "transactions": row.transactions,
            "transactions_30d": row.transactions_30d,
            "last_activity_at": row.last_activity_at,
        }
        for row in summaries
    ]
    outbox = await wallet_health.outbox_health(ctx)
    return {
        "totals": await stats.platform_stats(ctx),
        "vendors": rows,
        "parked": sum(provider.parked for provider in outbox),
        "pending": sum(provider.pending for provider in outbox),
    }


def _draw(
    request: Request, holder: UserHolder, screen: dict[str, Any], status_code: int = 200, **context: Any
) -> HTMLResponse:
    return admin_page(request, holder, "admin_overview.html", status_code=status_code, **screen, **context)


# --- the vendor form (here and on the vendor's page) ----------------------------------------------


def vendor_form(form: dict[str, str]) -> dict[str, str]:
    """The vendor fields a form carries, trimmed and cut to a length no valid value exceeds (what was typed is
    drawn again when refused)."""
    return {field: form.get(field, "").strip()[:300] for field in VENDOR_FIELDS}


def vendor_problem(error: ValidationError | LoyaltyError) -> tuple[Message, str | None, int]:
    """What to say about a refused vendor form: the message (a msgid), the field it is about (None: the
    form as a whole) and the status (400 for a value refused, the error's own otherwise: 409 for a web
    address another vendor has, 404 for a vendor gone)."""
    if isinstance(error, LoyaltyError):
        return error.message, "slug" if error.status_code == 409 else None, error.status_code
    fields = [str(problem["loc"][0]) for problem in error.errors() if problem["loc"]]
    field = next((name for name in fields if name in VENDOR_FIELD_PROBLEMS), "name")
    return VENDOR_FIELD_PROBLEMS[field], field, 400


# --- plumbing of the admin pages ------------------------------------------------------------------


async def admin_signed_in(request: Request) -> tuple[UserHolder, Context] | Response:
    """The platform admin signed in and their context; anyone else (nobody, a vendor's owner or manager)
    is sent to `/admin/login` (303)."""
    try:
        holder = await user_caller(request)
    except (Unauthenticated, Forbidden):
        return RedirectResponse(ADMIN_LOGIN_PAGE, status_code=303)
    if holder.role != UserRole.ADMIN:
        return RedirectResponse(ADMIN_LOGIN_PAGE, status_code=303)
    return holder, await user_context(request, holder)


async def admin_form(request: Request) -> tuple[UserHolder, Context, dict[str, str]] | Response:
    """An admin page's form: its sender, context and fields once its CSRF token and origin are checked;
    otherwise the answer to give (`admin_signed_in`'s, or the refusal page, 403, for a forged form)."""
    signed_in = await admin_signed_in(request)
    if isinstance(signed_in, Response):
        return signed_in
    holder, ctx = signed_in
    form = await read_form(request)
    try:
        check_csrf(request, holder, form.get(CSRF_FIELD))
    except CsrfTokenInvalid as error:
        return admin_page(request, holder, "admin_refused.html", status_code=error.status_code, error=error)
    return holder, ctx, form


def admin_page(
    request: Request, holder: UserHolder, template: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """An admin page: the browser's language unless chosen, times in UTC, never cached."""
    return render(
        request,
        template,
        page_locale(request),
        status_code=status_code,
        timezone=ADMIN_TIMEZONE,
        no_store=True,
        holder=holder,
        csrf=csrf_token(request.app.state.settings, holder.token_hash),
        **context,
    )
