"""The platform's wallet health for its admin (PAGES.md, "Platform admin"): the outbox's waiting and parked
updates per provider and how long the oldest has waited, the latest parked ones with their error and a
"Retry" (outbox.retry_now, as the admin API's retry), the Apple certificates' expiry and Google Wallet's
review of each programme's class."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from loyalty.api.errors import RolledBackAnswer
from loyalty.api.unit_of_work import UnitOfWorkRoute
from loyalty.errors import LoyaltyError
from loyalty.i18n import N_
from loyalty.models import OutboxStatus
from loyalty.services import outbox, wallet_health
from loyalty.services.context import Context
from loyalty.services.web_sessions import UserHolder
from loyalty.web.admin import admin_form, admin_page, admin_signed_in
from loyalty.web.forms import form_int

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)

PARKED_SHOWN = 50  # the longest waiting parked updates; the admin API pages through all of them
CLASSES_SHOWN = 200
_ROW_SHOWN = ("id", "vendor_id", "card_id", "program_id", "provider", "attempts", "last_attempt_at", "last_error")


@router.get("/admin/wallet")
async def wallet_page(request: Request) -> Response:
    signed_in = await admin_signed_in(request)
    if isinstance(signed_in, Response):
        return signed_in
    holder, ctx = signed_in
    return _draw(request, holder, await _health_of(request, ctx))


@router.post("/admin/wallet")
async def retry(request: Request) -> Response:
    """`retry` (row_id): the parked update is due now, its failures forgotten; the page again (404 for a row
    sent meanwhile or unknown)."""
    posted = await admin_form(request)
    if isinstance(posted, Response):
        return posted
    holder, ctx, form = posted
    before = await _health_of(request, ctx)
    try:
        if form.get("action") == "retry":
            await outbox.retry_now(ctx, form_int(form.get("row_id")) or 0)
    except LoyaltyError as error:
        page = _draw(request, holder, before, problem=error.message, status_code=error.status_code)
        raise RolledBackAnswer(page) from None
    done = N_("Sent again: the update is due now and the worker sends it in a moment.")
    return _draw(request, holder, await _health_of(request, ctx), done=done)


async def _health_of(request: Request, ctx: Context) -> dict[str, Any]:
    """The page as plain values: a refused retry is drawn from them after its rollback."""
    parked = await outbox.list_rows(ctx, OutboxStatus.PARKED, limit=PARKED_SHOWN, offset=0)
    rows = [{column: getattr(row, column) for column in _ROW_SHOWN} for row in parked.items]
    classes = await wallet_health.google_classes(ctx, limit=CLASSES_SHOWN)
    apple = request.app.state.apple_passes
    return {
        "providers": await wallet_health.outbox_health(ctx),
        "parked_rows": rows,
        "parked_total": parked.total,
        "names": await wallet_health.vendor_names(ctx, {row["vendor_id"] for row in rows}),
        "apple": wallet_health.apple_certificates(apple.credentials if apple else None, ctx.clock.now()),
        "google_configured": ctx.settings.google_wallet_configured,
        "classes": classes,
    }


def _draw(
    request: Request, holder: UserHolder, screen: dict[str, Any], status_code: int = 200, **context: Any
) -> HTMLResponse:
    return admin_page(request, holder, "admin_wallet.html", status_code=status_code, **screen, **context)
