"""The counter's poster (PAGES.md, Routes: `GET /vendor/poster`), for owners and managers signed in: the shop's
name, the QR of its enrolment page (`/join/{slug}/qr.svg`, web/customer.py), that address in text and the offer
in English, French, German and Luxembourgish together, on one A4 or A6 sheet (`?size=a4|a6`, A4 unless asked).

The page prints itself: style.css's print rules show the sheet alone, black on white, on a page of its size, and
Chromium's own "Save as PDF" makes the PDF (no server-side PDF library: the well-kept ones either need system
libraries, WeasyPrint's Pango, or would draw the poster a second time in their own layout, ReportLab's canvas).
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request, Response
from markupsafe import Markup

from loyalty.api.deps import settings_of
from loyalty.api.unit_of_work import UnitOfWorkRoute
from loyalty.i18n import N_
from loyalty.models import LoyaltyProgram, Vendor
from loyalty.services import vendors
from loyalty.wallet.colors import parse_hex
from loyalty.web.customer import enrolment_address
from loyalty.web.dashboard import dashboard_page, who_signed_in
from loyalty.web.languages import ENDONYMS
from loyalty.web.rendering import render_text

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)

SIZES = ("a4", "a6")  # ISO 216 sheets: a wall or a window (A4), the counter itself (A6)
DEFAULT_SIZE = "a4"
WRONG_SIZE = N_("There is no poster of that size: choose A4 or A6.")
NO_PROGRAMME = N_("The poster needs an active loyalty programme: until there is one, customers cannot join.")


@dataclass(frozen=True)
class Poster:
    """What the sheet shows: `address` is the enrolment page's absolute URL (what its QR holds), `accent` the
    card's colour as `#rrggbb` (the pass's default when it has none), `languages` one rendered block per
    language, the vendor's own first."""

    shop: str
    slug: str
    address: str
    accent: str
    languages: list[Markup]


@router.get("/vendor/poster")
async def poster_page(request: Request) -> Response:
    """The poster page (200); 400 for a size other than a4 or a6, 409 while the shop has no active programme
    (its enrolment page would not open); the sign-in page for a visitor who is not signed in."""
    signed_in = await who_signed_in(request)
    if isinstance(signed_in, Response):
        return signed_in
    holder, ctx = signed_in
    size = request.query_params.get("size", DEFAULT_SIZE)
    if size not in SIZES:
        return dashboard_page(request, holder, "vendor_poster.html", status_code=400, problem=WRONG_SIZE, size=None)
    program = holder.program
    if program is None or not program.is_active or holder.vendor_id is None:
        return dashboard_page(request, holder, "vendor_poster.html", status_code=409, problem=NO_PROGRAMME, size=size)
    vendor = await vendors.get_vendor(ctx, holder.vendor_id)
    address = enrolment_address(settings_of(request).public_base_url, vendor.slug)
    return dashboard_page(
        request, holder, "vendor_poster.html", size=size, poster=_poster(vendor, program, address)
    )  # fmt: skip


def _poster(vendor: Vendor, program: LoyaltyProgram, address: str) -> Poster:
    red, green, blue = parse_hex(program.card_color)
    order = sorted(ENDONYMS, key=lambda locale: locale != vendor.default_locale)  # stable: the rest as ENDONYMS
    return Poster(
        shop=vendor.name, slug=vendor.slug, address=address, accent=f"#{red:02x}{green:02x}{blue:02x}",
        languages=[_language_block(locale, vendor, program) for locale in order],
    )  # fmt: skip


def _language_block(locale: str, vendor: Vendor, program: LoyaltyProgram) -> Markup:
    """The offer in `locale`, as _poster_language.html renders it with that language's catalogue and number
    format (the page around it speaks the reader's language; each block speaks its own, `lang` included)."""
    # Markup: the template's own output, its values already escaped by its autoescape; not escaped twice.
    return Markup(render_text("_poster_language.html", locale, vendor=vendor, program=program))
