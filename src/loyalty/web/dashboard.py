"""The vendor dashboard (PAGES.md, "Vendor dashboard"), for owners and managers signed in: the overview
(the programme's figures, its last 30 days, the anomalies of the last 7) and the counter terminals (owners:
pair, rename, re-pair, unlock, revoke). Server-rendered over the same services as the API; every write is a
form with the session's CSRF token.
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from loyalty.api.unit_of_work import UnitOfWorkRoute
from loyalty.api.vendor.transactions import csv_download
from loyalty.errors import CsrfTokenInvalid, Forbidden, LoyaltyError, Unauthenticated
from loyalty.i18n import N_
from loyalty.models import UserRole
from loyalty.models.transaction import TRANSACTION_TYPE_LABELS
from loyalty.services import idempotency, outbox, stats, terminals, transactions
from loyalty.services.anomalies import find_anomalies
from loyalty.services.context import Context
from loyalty.services.terminals import PairingCode, TerminalChanges, TerminalCreate
from loyalty.services.transactions import TransactionFilter
from loyalty.services.web_sessions import UserHolder, csrf_token
from loyalty.web.accounts import LOGIN_PAGE
from loyalty.web.forms import form_int, read_form
from loyalty.web.languages import page_locale
from loyalty.web.rendering import render
from loyalty.web.sessions import CSRF_FIELD, check_csrf, user_caller, user_context

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)

MAX_TERMINALS = 200  # on one page: more than any shop has
LATEST = 20  # ledger entries on the overview (PAGES.md)


@router.get("/vendor")
async def overview(request: Request) -> Response:
    signed_in = await who_signed_in(request)
    if isinstance(signed_in, Response):
        return signed_in
    holder, ctx = signed_in
    figures = await stats.program_stats(ctx, holder.program, holder.timezone) if holder.program else None
    latest = await transactions.vendor_transactions(ctx, TransactionFilter(), limit=LATEST, offset=0)
    wallets = await outbox.vendor_stats(ctx)
    anomalies = await find_anomalies(ctx, holder.program, holder.timezone) if holder.program else None
    return dashboard_page(
        request, holder, "vendor_overview.html", figures=figures, latest=latest.items, wallets=wallets,
        labels=TRANSACTION_TYPE_LABELS, anomalies=anomalies,
    )  # fmt: skip


@router.get("/vendor/export.csv")
async def export_csv(request: Request) -> Response:
    """The whole ledger as a CSV file (the API's `Accept: text/csv` export), for owners."""
    signed_in = await who_signed_in(request, owner=True)
    if isinstance(signed_in, Response):
        return signed_in
    _, ctx = signed_in
    download = csv_download(request, ctx, TransactionFilter())
    download.headers["Cache-Control"] = "no-store"
    return download


@router.get("/vendor/terminals")
async def terminals_page(request: Request) -> Response:
    signed_in = await who_signed_in(request, owner=True)
    if isinstance(signed_in, Response):
        return signed_in
    holder, ctx = signed_in
    return await _terminals(request, holder, ctx)


@router.post("/vendor/terminals")
async def change_terminals(request: Request) -> Response:
    """One form per change: `create` (a name: the new terminal's pairing code is shown, once), `rename`,
    `code` (a new pairing code), `unlock`, `revoke`."""
    posted = await posted_form(request, owner=True)
    if isinstance(posted, Response):
        return posted
    holder, ctx, form = posted
    terminal_id = form_int(form.get("terminal_id")) or 0
    action = form.get("action", "")
    pairing: PairingCode | None = None
    done = None
    try:
        if action == "create":
            pairing = await _create_once(ctx, form)
        elif action == "code":
            pairing = await terminals.new_pairing_code(ctx, terminal_id)
        elif action == "rename":
            await terminals.rename_terminal(ctx, terminal_id, TerminalChanges(name=form.get("name", "").strip()))
            done = N_("Renamed.")
        elif action == "unlock":
            await terminals.unlock_terminal(ctx, terminal_id)
            done = N_("Unlocked: the wrong PINs counted against it are cleared.")
        elif action == "revoke":
            await terminals.revoke_terminal(ctx, terminal_id)
            done = N_("Revoked: the device is signed out now.")
    except ValidationError:
        return await _terminals(request, holder, ctx, problem=N_("Give the terminal a name."), status_code=400)
    except LoyaltyError as error:
        return await _terminals(request, holder, ctx, problem=error.message, status_code=error.status_code)
    return await _terminals(request, holder, ctx, pairing=pairing, done=done)


async def _create_once(ctx: Context, form: dict[str, str]) -> PairingCode:
    """The form's terminal, made once per drawn form (its `attempt` key): the same form sent again (a reload,
    a double tap) gives that terminal a fresh pairing code instead of making a second terminal."""
    new = TerminalCreate(name=form.get("name", "").strip())  # checked before the key is taken
    scope, attempt = f"dashboard:{ctx.vendor_id}", form.get("attempt", "")[:100] or secrets.token_urlsafe(16)
    stored = await idempotency.claim(ctx, scope, attempt, idempotency.fingerprint("POST", "/vendor/terminals", b""))
    if stored is not None:
        return await terminals.new_pairing_code(ctx, int(stored.body))
    pairing = await terminals.create_terminal(ctx, new)
    await idempotency.remember(ctx, scope, attempt, idempotency.StoredAnswer(201, str(pairing.terminal.id)))
    return pairing


async def _terminals(
    request: Request, holder: UserHolder, ctx: Context, status_code: int = 200, **context: Any
) -> HTMLResponse:
    listed = await terminals.list_terminals(ctx, limit=MAX_TERMINALS, offset=0)
    return dashboard_page(
        request, holder, "vendor_terminals.html", status_code=status_code, terminals=listed.items,
        now=ctx.clock.now(), attempt=secrets.token_urlsafe(16), **context,
    )  # fmt: skip


# --- plumbing ------------------------------------------------------------------------------------


async def who_signed_in(request: Request, *, owner: bool = False) -> tuple[UserHolder, Context] | Response:
    """The person signed in and their context; otherwise the sign-in page (303), or the refusal page for a
    manager on an owner's page or a switched-off vendor (403)."""
    try:
        holder = await user_caller(request)
    except Unauthenticated:
        return RedirectResponse(LOGIN_PAGE, status_code=303)
    except Forbidden as error:
        return render(request, "vendor_refused.html", page_locale(request), status_code=403, error=error, no_store=True)
    if holder.vendor_id is None:
        return RedirectResponse(LOGIN_PAGE, status_code=303)
    ctx = await user_context(request, holder)
    if owner and holder.role != UserRole.OWNER:
        return refused(request, holder, Forbidden())
    return holder, ctx


async def posted_form(
    request: Request, *, owner: bool = False
) -> tuple[UserHolder, Context, dict[str, str]] | Response:
    """A dashboard form's sender, context and fields, once its CSRF token and origin are checked; otherwise
    the answer to give (`who_signed_in`'s, or the refusal page for a forged form)."""
    signed_in = await who_signed_in(request, owner=owner)
    if isinstance(signed_in, Response):
        return signed_in
    holder, ctx = signed_in
    form = await read_form(request)
    try:
        check_csrf(request, holder, form.get(CSRF_FIELD))
    except CsrfTokenInvalid as error:
        return refused(request, holder, error)
    return holder, ctx, form


def dashboard_page(
    request: Request, holder: UserHolder, template: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """A dashboard page: the vendor's language unless chosen, its time zone, never cached."""
    locale = page_locale(request, vendor_locale=holder.locale)
    return render(
        request, template, locale, status_code=status_code, timezone=holder.timezone, no_store=True, holder=holder,
        csrf=csrf_token(request.app.state.settings, holder.token_hash), **context,
    )  # fmt: skip


def refused(request: Request, holder: UserHolder, error: LoyaltyError) -> HTMLResponse:
    return dashboard_page(request, holder, "vendor_refused.html", status_code=error.status_code, error=error)
