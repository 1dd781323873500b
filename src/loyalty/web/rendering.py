"""Templates rendered in one language, with the headers every page carries (PAGES.md, "Headers on every
page"). Templates call `_("English text {name}", name=…)` and `ngettext(singular, plural, n, …)`;
both translate through the gettext catalogues the API uses (`loyalty.i18n.translate`), so `make
messages` extracts them (babel.cfg's jinja2 section) and tests/test_i18n.py checks their translations.
Numbers, percentages, money and dates go through Babel in the page's language and the vendor's time zone.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, format_time
from babel.numbers import format_decimal, format_percent
from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from loyalty.i18n import NP_, translate
from loyalty.web.languages import COOKIE, ENDONYMS, chosen_by_query

TEMPLATES = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
STATIC_URL = "/static"
BADGES_URL = "/badges"  # LOYALTY_WALLET_BADGES_DIR, when the operator gives Apple's and Google's artwork
BADGES = {"apple": "apple-wallet.svg", "google": "google-wallet.svg"}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
COUNTER_CSP = CSP.replace("script-src 'self'", "script-src 'self' 'wasm-unsafe-eval'")
BABEL_LOCALES = {"en": "en_GB", "fr": "fr_LU", "de": "de_LU", "lb": "lb_LU"}

_environment = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),  # not the e-mails' text part: it is not HTML
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(
    request: Request,
    template: str,
    locale: str,
    *,
    status_code: int = 200,
    timezone: str = "Europe/Luxembourg",
    private: bool = False,
    counter: bool = False,
    no_store: bool = False,
    **context: Any,
) -> HTMLResponse:
    """The page `template` in `locale`. `private`: the page's URL is a bearer secret (a card page), so no
    referrer leaves it and nothing caches it. `counter`: the terminal's page (`page_headers`). `no_store`: a
    signed-in or sign-in page, never cached; its referrer stays same-origin, as its forms need an `Origin`."""
    context.setdefault("path", request.url.path)  # a page drawn for a POST names its GET
    html = render_text(template, locale, timezone=timezone, **context)
    response = HTMLResponse(html, status_code=status_code)
    response.headers.update(page_headers(private=private, counter=counter))
    if no_store:
        response.headers["Cache-Control"] = "no-store"
    if (chosen := chosen_by_query(request)) is not None:
        response.set_cookie(COOKIE, chosen, max_age=365 * 24 * 3600, httponly=True, samesite="lax")
    return response


def render_text(template: str, locale: str, *, timezone: str = "Europe/Luxembourg", **context: Any) -> str:
    """`template` rendered in `locale` (a page, or an e-mail's text or HTML part)."""
    return _environment.get_template(template).render(
        _=lambda message, **params: translate(message, locale, **params),
        ngettext=lambda singular, plural, n, **params: _plural(singular, plural, n, locale, params),
        number=lambda value: format_decimal(value, locale=BABEL_LOCALES[locale]),
        percent=lambda whole: format_percent(whole / 100, locale=BABEL_LOCALES[locale]),  # 50 → "50%", "50 %"
        local_time=lambda moment: _local_time(moment, timezone, locale),
        clock_time=lambda moment: clock_time(moment, timezone, locale),
        local_date=lambda day: format_date(day, "medium", locale=BABEL_LOCALES[locale]),
        locale=locale,
        languages=ENDONYMS,
        static=STATIC_URL,
        **context,
    )


def page_headers(*, private: bool = False, counter: bool = False) -> dict[str, str]:
    """PAGES.md's headers: the CSP (no inline script or style), no camera, no sniffing, the referrer rule.
    The counter terminal's pages may use the camera and compile the QR decoder's WebAssembly
    (`'wasm-unsafe-eval'`, which allows no JavaScript eval), and are never cached (a session's page)."""
    headers = {
        "Content-Security-Policy": COUNTER_CSP if counter else CSP,
        "Permissions-Policy": "camera=(self)" if counter else "camera=()",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer" if private else "same-origin",
    }
    if private or counter:
        headers["Cache-Control"] = "no-store"
    return headers


def _plural(singular: str, plural: str, n: int, locale: str, params: dict[str, Any]) -> str:
    """The form `n` takes in `locale`; `{count}` is `n` unless the template gives it (formatted, say)."""
    return translate(NP_(singular, plural, count="plural_n"), locale, plural_n=n, **{"count": n, **params})


def _local_time(moment: datetime, timezone: str, locale: str) -> str:
    return format_datetime(moment.astimezone(ZoneInfo(timezone)), "medium", locale=BABEL_LOCALES[locale])


def clock_time(moment: datetime, timezone: str, locale: str) -> str:
    """The time of day in the vendor's time zone, as the locale writes it ("09:30")."""
    return format_time(moment.astimezone(ZoneInfo(timezone)), "short", locale=BABEL_LOCALES[locale])
