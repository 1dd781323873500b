"""The browser side of sessions (PAGES.md, "Sessions"): the cookie, the CSRF checks, and the paired
terminal as a request's caller.

The cookie is `__Host-loyalty_session` (Secure; HttpOnly; SameSite=Strict; Path=/) when the service is
served over https (LOYALTY_PUBLIC_BASE_URL), plain `loyalty_session` on http://127.0.0.1 or localhost in
development, where a browser would refuse a Secure cookie. A write must carry the session's CSRF token
(a form's hidden `csrf_token`, or the `X-CSRF-Token` header) and, when the browser names one, come
from our own origin (the `Origin` header): SameSite=Strict alone leaves out older browsers.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from fastapi import Request, Response

from loyalty.api.deps import client_ip, clock_of, settings_of
from loyalty.api.unit_of_work import begin_session, request_unit
from loyalty.config import Settings
from loyalty.errors import CsrfTokenInvalid, TerminalNotPaired, Unauthenticated
from loyalty.services import web_sessions
from loyalty.services.context import Actor, Context, VendorState
from loyalty.services.web_sessions import TerminalHolder, UserHolder

SECURE_COOKIE = "__Host-loyalty_session"
PLAIN_COOKIE = "loyalty_session"
# A person's session has a cookie of its own: an owner who signs in on the counter's tablet must not unpair it.
SECURE_USER_COOKIE = "__Host-loyalty_user"
PLAIN_USER_COOKIE = "loyalty_user"
# Before a session exists (the pairing form), CSRF is a double submit: a random cookie and the same value in
# the form. A page elsewhere can neither read the cookie nor make the browser send it (SameSite=Strict).
SECURE_FORM_COOKIE = "__Host-loyalty_form"
PLAIN_FORM_COOKIE = "loyalty_form"
FORM_COOKIE_SECONDS = 3600
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


def is_https(settings: Settings) -> bool:
    return urlsplit(settings.public_base_url).scheme == "https"


def cookie_name(settings: Settings) -> str:
    return SECURE_COOKIE if is_https(settings) else PLAIN_COOKIE


def set_session_cookie(response: Response, settings: Settings, token: str, max_age_seconds: int) -> None:
    response.set_cookie(
        cookie_name(settings), token, max_age=max_age_seconds, path="/", secure=is_https(settings),
        httponly=True, samesite="strict",
    )  # fmt: skip


def renew_session_cookie(request: Request, response: Response) -> None:
    """The session cookie again with its whole lifetime: a terminal's session slides with each use
    (LOYALTY_TERMINAL_SESSION_DAYS), and the browser's copy must not end before it."""
    settings = settings_of(request)
    if token := request.cookies.get(cookie_name(settings)):
        set_session_cookie(response, settings, token, settings.terminal_session_days * 24 * 3600)


def clear_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(cookie_name(settings), path="/", secure=is_https(settings), httponly=True, samesite="strict")


def form_token(request: Request) -> str:
    """The browser's pre-session form token (its cookie's value), or a new one for `set_form_cookie`."""
    return request.cookies.get(_form_cookie_name(settings_of(request))) or secrets.token_urlsafe(24)


def set_form_cookie(response: Response, settings: Settings, token: str) -> None:
    response.set_cookie(
        _form_cookie_name(settings), token, max_age=FORM_COOKIE_SECONDS, path="/", secure=is_https(settings),
        httponly=True, samesite="strict",
    )  # fmt: skip


def check_form_token(request: Request, given: str | None) -> None:
    """A pre-session form's CSRF check: the form's token equals the cookie's, and the browser's `Origin`,
    when it sends one, is ours. Raises CsrfTokenInvalid (403)."""
    settings = settings_of(request)
    cookie = request.cookies.get(_form_cookie_name(settings))
    if (
        not cookie
        or not given
        or not hmac.compare_digest(cookie.encode(), given.encode())
        or not _same_origin(request, settings)
    ):
        raise CsrfTokenInvalid()


def _form_cookie_name(settings: Settings) -> str:
    return SECURE_FORM_COOKIE if is_https(settings) else PLAIN_FORM_COOKIE


def session_token_hash(request: Request) -> str | None:
    token = request.cookies.get(cookie_name(settings_of(request)))
    return web_sessions.hash_token(token) if token else None


async def terminal_caller(request: Request) -> TerminalHolder:
    """The paired terminal this browser is, identified before the request's transaction begins. Raises
    TerminalNotPaired (401) without a live session, Forbidden (403) for a switched-off vendor."""
    token_hash = session_token_hash(request)
    if token_hash is None:
        raise TerminalNotPaired()
    settings, now = settings_of(request), clock_of(request).now()
    holder = await request_unit(request).read(
        lambda session: web_sessions.identify_terminal(session, settings, token_hash, now)
    )
    request.state.vendor_id = holder.vendor_id  # for the request log and the API messages' language
    request.state.vendor_locale = holder.locale
    return holder


async def terminal_context(request: Request, holder: TerminalHolder) -> Context:
    """The counter's context for `holder`: its operations are the vendor's, recorded with the terminal
    (ledger rows, PIN lockouts); the session's sliding end moves."""
    actor = Actor(
        vendor_id=holder.vendor_id, client_ip=client_ip(request), user_agent=request.headers.get("user-agent"),
        terminal_id=holder.terminal_id,
    )  # fmt: skip
    state = VendorState(timezone=holder.timezone, program=holder.program)
    ctx = Context(await begin_session(request), settings_of(request), clock_of(request), actor, state)
    await web_sessions.touch(ctx, holder)
    return ctx


def check_csrf(request: Request, holder: TerminalHolder | UserHolder, given: str | None) -> None:
    """Raises CsrfTokenInvalid (403) unless `given` is the session's CSRF token and the browser's
    `Origin`, when it sends one, is ours."""
    settings = settings_of(request)
    if not web_sessions.is_csrf_token(settings, holder.token_hash, given) or not _same_origin(request, settings):
        raise CsrfTokenInvalid()


# --- people ----------------------------------------------------------------------------------------


def user_cookie_name(settings: Settings) -> str:
    return SECURE_USER_COOKIE if is_https(settings) else PLAIN_USER_COOKIE


def set_user_cookie(response: Response, settings: Settings, token: str) -> None:
    """The person's session cookie: no Max-Age, so it ends with the browser too (the session itself ends
    after 30 minutes unused or 12 hours)."""
    response.set_cookie(
        user_cookie_name(settings), token, path="/", secure=is_https(settings), httponly=True, samesite="strict"
    )


def clear_user_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        user_cookie_name(settings), path="/", secure=is_https(settings), httponly=True, samesite="strict"
    )


async def user_caller(request: Request) -> UserHolder:
    """The person signed in on this browser, identified before the request's transaction begins. Raises
    Unauthenticated (401) without a live session, Forbidden (403) for a switched-off vendor's user."""
    token = request.cookies.get(user_cookie_name(settings_of(request)))
    if not token:
        raise Unauthenticated()
    token_hash, settings, now = web_sessions.hash_token(token), settings_of(request), clock_of(request).now()
    holder = await request_unit(request).read(
        lambda session: web_sessions.identify_user(session, settings, token_hash, now)
    )
    request.state.vendor_id = holder.vendor_id
    request.state.vendor_locale = holder.locale
    return holder


async def user_context(request: Request, holder: UserHolder) -> Context:
    """The context of a person's page: a vendor's user acts as its vendor (no API key, no terminal); the
    session's idle end moves."""
    actor = None
    state = None
    if holder.vendor_id is not None:
        actor = Actor(
            vendor_id=holder.vendor_id, client_ip=client_ip(request), user_agent=request.headers.get("user-agent")
        )
        state = VendorState(timezone=holder.timezone, program=holder.program)
    ctx = Context(await begin_session(request), settings_of(request), clock_of(request), actor, state)
    await web_sessions.touch_user(ctx, holder)
    return ctx


def _same_origin(request: Request, settings: Settings) -> bool:
    origin = request.headers.get("origin")
    if origin is None:
        return True  # no browser sends a cross-site write without it; the token is then the check
    ours = {_origin_of(settings.public_base_url), _origin_of(str(request.base_url))}
    return origin.rstrip("/") in ours


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
