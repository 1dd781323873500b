"""The customer's pages (PAGES.md, "Customer pages"): enrolment, the card, its QR, "e-mail me my card link".

Enrolment and the lost-link form answer an e-mail that already has a card with the same neutral page
and send the card's link to that address (through the outbox and `loyalty worker`), so the rightful
owner gets it and nobody learns whether a card exists. The card page's URL is the holder's bearer
secret: no referrer, no cache, no index, and the request log writes the route, not the token.
"""

from __future__ import annotations

import io
import secrets
from datetime import datetime, timedelta
from pathlib import Path as FsPath
from typing import Annotated
from zoneinfo import ZoneInfo

import segno
from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlalchemy import select

from loyalty.api.deps import PublicContext, client_ip, clock_of, public_context, settings_of
from loyalty.api.unit_of_work import UnitOfWorkRoute, request_unit
from loyalty.errors import CardAlreadyExists, CardNotFound, ProgramNotFound, RateLimited
from loyalty.i18n import translate
from loyalty.models import Customer, LoyaltyCard, LoyaltyProgram, LoyaltyTransaction
from loyalty.models.transaction import TRANSACTION_TYPE_LABELS
from loyalty.services import (
    cards,
    google_wallet,
    idempotency,
    outbox,
    programs,
    rate_limits,
    transactions,
)
from loyalty.services.card_numbers import format_card_number
from loyalty.services.context import Context
from loyalty.web.forms import read_form
from loyalty.web.languages import page_locale
from loyalty.web.rendering import BADGES, BADGES_URL, page_headers, render

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)

MAIL = "mail"  # the outbox's name for the customer's mail (worker/mail.py)
RECENT = 10
HONEYPOT = "website"  # a field people do not see and bots fill in
VendorSlug = Annotated[str, Path(min_length=1, max_length=100)]
CardToken = Annotated[str, Path(min_length=1, max_length=64)]


async def counted_context(request: Request) -> Context:
    """The page's context, once the attempt is counted against the client's allowance (the API's
    enrolment limit, per address), committed apart before the page's transaction begins: a refused or
    failed attempt still counts. Past the limit, `request.state.refused` is set and the page says so."""
    settings = settings_of(request)
    request.state.refused = False
    try:
        await rate_limits.hit_apart(
            request_unit(request), settings, clock_of(request), f"join:{client_ip(request) or 'unknown'}",
            limit=settings.enroll_rate_limit, window_seconds=settings.enroll_rate_window_seconds,
        )  # fmt: skip
    except RateLimited:
        request.state.refused = True
    return await public_context(request)


CountedContext = Annotated[Context, Depends(counted_context)]


@router.get("/join/{vendor_slug}")
async def join_page(request: Request, ctx: PublicContext, vendor_slug: VendorSlug) -> Response:
    try:
        program, vendor = await programs.get_public_program(ctx, vendor_slug)
    except ProgramNotFound:
        return _not_found(request)
    locale = page_locale(request, vendor_locale=vendor.default_locale)
    return _join_form(request, locale, program, vendor, form={}, errors={})


def _join_form(
    request: Request, locale: str, program: object, vendor: object, *, form: dict[str, str], errors: dict[str, str],
    status_code: int = 200,
) -> HTMLResponse:  # fmt: skip
    return render(
        request, "join.html", locale, status_code=status_code, program=program, vendor=vendor, form=form,
        errors=errors, attempt=form.get("attempt") or secrets.token_urlsafe(16),
    )  # fmt: skip


@router.post("/join/{vendor_slug}")
async def join(request: Request, ctx: CountedContext, vendor_slug: VendorSlug) -> Response:
    """Enrols (303 to the card page), or answers the neutral page for an e-mail that has a card and
    e-mails that card's link to it. The form's `attempt` is the Idempotency-Key: a double submit gives
    the same card page, not a second card or the neutral page."""
    if request.state.refused:
        return _page(request, "busy.html", 429)
    try:
        program, vendor = await programs.get_public_program(ctx, vendor_slug)
    except ProgramNotFound:
        return _not_found(request)
    form = await read_form(request)
    locale = page_locale(request, vendor_locale=vendor.default_locale)
    if form.get(HONEYPOT):  # a bot: it gets the neutral answer and nothing happens
        return render(request, "join_sent.html", locale, vendor=vendor)
    try:
        enrolment = cards.Enrolment(
            email=form.get("email", "").strip(), name=form.get("name", "").strip() or None,
            locale=form.get("locale") or locale, marketing_consent=form.get("marketing_consent") == "yes",
        )  # fmt: skip
    except ValidationError:
        errors = {"email": "invalid"}
        return _join_form(request, locale, program, vendor, form=form, errors=errors, status_code=400)
    attempt = form.get("attempt", "")[:255] or secrets.token_urlsafe(16)
    scope = f"join:{program.id}"
    stored = await idempotency.claim(ctx, scope, attempt, idempotency.fingerprint("POST", request.url.path, b""))
    if stored is not None:
        return _answer(request, stored.body, locale, vendor)
    try:
        view = await cards.enrol(ctx, program, enrolment)
    except CardAlreadyExists:
        await _mail_card_link(ctx, program.id, enrolment.email)
        await idempotency.remember(ctx, scope, attempt, idempotency.StoredAnswer(200, "sent"))
        return render(request, "join_sent.html", locale, vendor=vendor)
    await outbox.queue_card_update(ctx, view.card.id, MAIL)  # the card's link, for the customer's inbox
    await idempotency.remember(ctx, scope, attempt, idempotency.StoredAnswer(303, view.card.card_token))
    return RedirectResponse(f"/card/{view.card.card_token}", status_code=303, headers=page_headers(private=True))


def _answer(request: Request, stored: str, locale: str, vendor: object) -> Response:
    """The first answer to this form, again: its card page, or the neutral page."""
    if stored == "sent":
        return render(request, "join_sent.html", locale, vendor=vendor)
    return RedirectResponse(f"/card/{stored}", status_code=303, headers=page_headers(private=True))


async def _mail_card_link(ctx: Context, program_id: int, email: str) -> None:
    """Queues the card's link for the address's inbox, if that address has a card in the programme."""
    card_id = await ctx.session.scalar(
        select(LoyaltyCard.id)
        .join(Customer, Customer.id == LoyaltyCard.customer_id)
        .where(
            LoyaltyCard.program_id == program_id,
            Customer.email_normalised == cards.normalise_email(email),
            Customer.erased_at.is_(None),
        )
    )
    if card_id is not None:
        await outbox.queue_card_update(ctx, card_id, MAIL)


@router.get("/join/{vendor_slug}/privacy")
async def privacy_page(request: Request, ctx: PublicContext, vendor_slug: VendorSlug) -> Response:
    """Who holds the customer's data and why (PAGES.md: the vendor is the controller, the platform the processor)."""
    return await _vendor_page(request, ctx, vendor_slug, "privacy.html")


@router.get("/join/{vendor_slug}/lost")
async def lost_page(request: Request, ctx: PublicContext, vendor_slug: VendorSlug) -> Response:
    return await _vendor_page(request, ctx, vendor_slug, "lost.html")


async def _vendor_page(request: Request, ctx: Context, vendor_slug: str, template: str) -> Response:
    """A page about a vendor's active programme, in the visitor's language; the 404 page without one."""
    try:
        _, vendor = await programs.get_public_program(ctx, vendor_slug)
    except ProgramNotFound:
        return _not_found(request)
    return render(request, template, page_locale(request, vendor_locale=vendor.default_locale), vendor=vendor)


@router.post("/join/{vendor_slug}/lost")
async def lost(request: Request, ctx: CountedContext, vendor_slug: VendorSlug) -> Response:
    """The same neutral page whether or not the address has a card; if it has, the link goes to it."""
    if request.state.refused:
        return _page(request, "busy.html", 429)
    try:
        program, vendor = await programs.get_public_program(ctx, vendor_slug)
    except ProgramNotFound:
        return _not_found(request)
    form = await read_form(request)
    if not form.get(HONEYPOT):
        await _mail_card_link(ctx, program.id, form.get("email", "").strip())
    locale = page_locale(request, vendor_locale=vendor.default_locale)
    return render(request, "join_sent.html", locale, vendor=vendor)


@router.get("/card/{card_token}")
async def card_page(request: Request, ctx: PublicContext, card_token: CardToken) -> Response:
    try:
        card = await cards.find_card_by_token(ctx, card_token)
        program, vendor = await programs.get_program_and_vendor(ctx, card.program_id)
    except (CardNotFound, ProgramNotFound):
        return _not_found(request)
    customer = await ctx.session.get(Customer, card.customer_id)
    locale = page_locale(
        request, card_locale=customer.locale if customer else None, vendor_locale=vendor.default_locale
    )
    recent = await transactions.recent_for_card(ctx, card.id, card.vendor_id, RECENT)

    next_stamp_at, stamps_today = _next_stamp(card, program, vendor.timezone, ctx.clock.now())

    def transaction_label(entry: LoyaltyTransaction) -> str:
        return translate(TRANSACTION_TYPE_LABELS[entry.transaction_type], locale)

    return render(
        request, "card.html", locale, private=True, timezone=vendor.timezone, card=card, program=program,
        vendor=vendor, recent=[view.entry for view in recent], card_number=format_card_number(card.card_number),
        transaction_label=transaction_label, next_stamp_at=next_stamp_at, stamps_today=stamps_today,
        android="android" in request.headers.get("user-agent", "").lower(),
        badges=_badges(settings_of(request).wallet_badges_dir),
        google=getattr(request.app.state, "google_issuer", None) is not None,
        apple=getattr(request.app.state, "apple_passes", None) is not None,
    )  # fmt: skip


@router.get("/card/{card_token}/google-wallet")
async def card_google_wallet(request: Request, ctx: PublicContext, card_token: CardToken) -> Response:
    """The card page's "Add to Google Wallet": a 303 to the save link (`api/public/google_wallet.py`)."""
    issuer = getattr(request.app.state, "google_issuer", None)
    try:
        if issuer is None:
            raise CardNotFound()
        save_url = await google_wallet.save_url(ctx, issuer, card_token)
    except CardNotFound:
        return _not_found(request)
    return RedirectResponse(save_url, status_code=303, headers=page_headers(private=True))


@router.get("/join/{vendor_slug}/qr.svg")
async def join_qr(request: Request, ctx: PublicContext, vendor_slug: VendorSlug) -> Response:
    """The QR of the enrolment page's address, for the counter's poster (PAGES.md): public, no personal data."""
    try:
        await programs.get_public_program(ctx, vendor_slug)
    except ProgramNotFound:
        return _not_found(request)
    address = enrolment_address(settings_of(request).public_base_url, vendor_slug)
    return _qr_svg(address, error="m", cache="public, max-age=3600")


def enrolment_address(public_base_url: str, slug: str) -> str:
    """The absolute address of the vendor's enrolment page, as its QR (`/join/{slug}/qr.svg`) and the counter's
    poster (web/poster.py) show it."""
    return f"{public_base_url.rstrip('/')}/join/{slug}"


@router.get("/card/{card_token}/qr.svg")
async def card_qr(ctx: PublicContext, card_token: CardToken) -> Response:
    """The card's QR code (segno, SVG): high error correction, never cached."""
    try:
        card = await cards.find_card_by_token(ctx, card_token)
    except CardNotFound:
        return Response(status_code=404, headers=page_headers(private=True))
    return _qr_svg(card.qr_code, error="h", cache="no-store", private=True)


def _qr_svg(content: str, *, error: str, cache: str, private: bool = False) -> Response:
    """`content` as a QR code in SVG (segno): dark modules on a white quiet zone of 4 modules, whatever the
    page around it. Served as an image, not a page: its own CSP lets nothing run in it."""
    document = io.BytesIO()  # a whole SVG document (with its namespace), not svg_inline's HTML fragment
    segno.make(content, error=error, micro=False).save(document, kind="svg", scale=8, border=4, light="#fff")
    svg = document.getvalue()
    headers = {
        **page_headers(private=private),
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
        "Cache-Control": cache,
    }
    return Response(svg, media_type="image/svg+xml", headers=headers)


def _next_stamp(
    card: LoyaltyCard, program: LoyaltyProgram, timezone: str, now: datetime
) -> tuple[datetime | None, int]:
    """When the cooldown lets the next stamp in (None: now), and the stamps of the vendor's local day so far
    (the counter's rules: docs/rules.md)."""
    today = now.astimezone(ZoneInfo(timezone)).date()
    stamps_today = card.stamps_today if card.stamps_today_date == today else 0
    if card.last_stamp_at is None or not program.cooldown_minutes:
        return None, stamps_today
    ready = card.last_stamp_at + timedelta(minutes=program.cooldown_minutes)
    return (ready if ready > now else None), stamps_today


def _badges(folder: FsPath | None) -> dict[str, str]:
    """The official button artwork the operator provided (wallet → its URL); Apple and Google forbid
    home-made versions, so a wallet without its file gets a plain text button."""
    if folder is None:
        return {}
    return {wallet: f"{BADGES_URL}/{name}" for wallet, name in BADGES.items() if (folder / name).is_file()}


def _not_found(request: Request) -> HTMLResponse:
    return _page(request, "not_found.html", 404)


def _page(request: Request, template: str, status_code: int) -> HTMLResponse:
    return render(request, template, page_locale(request), status_code=status_code)
