"""Which language a page speaks (PAGES.md, "Languages"): `?lang=` (then kept in a cookie) › the cookie ›
the card's own locale (card pages) › Accept-Language › the vendor's default locale › English."""

from __future__ import annotations

from fastapi import Request

from loyalty.i18n import DEFAULT_LOCALE, negotiate, normalise_locale

COOKIE = "loyalty_lang"
ENDONYMS = {"en": "English", "fr": "Français", "de": "Deutsch", "lb": "Lëtzebuergesch"}


def page_locale(request: Request, *, card_locale: str | None = None, vendor_locale: str | None = None) -> str:
    """The page's language, one of en, fr, de, lb."""
    for choice in (request.query_params.get("lang"), request.cookies.get(COOKIE), card_locale):
        if locale := normalise_locale(choice):
            return locale
    return negotiate(request.headers.get("accept-language"), vendor_locale or DEFAULT_LOCALE)


def chosen_by_query(request: Request) -> str | None:
    """The language the visitor just picked with `?lang=`, to keep in the cookie; None otherwise."""
    return normalise_locale(request.query_params.get("lang"))
