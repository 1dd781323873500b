"""The browser side of sessions (PAGES.md, "Sessions"): the cookie, the CSRF checks, and the paired
terminal as a request's caller.

The cookie is `__Host-loyalty_session` (Secure; HttpOnly; SameSite=Strict; Path=/) when the service is
served over https (LOYALTY_PUBLIC_BASE_URL), plain `loyalty_session` on http://127.0.0.1 or localhost in
development, where a browser would refuse a Secure cookie. A write must carry the session's CSRF token
(a form's hidden `csrf_token`, or the `X-CSRF-Token` header) and, when the browser names one, come
from our own origin (the `Origin` header): SameSite=Strict alone leaves out older browsers.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Request, Response

from loyalty.api.deps import client_ip, clock_of, settings_of
from loyalty.api.unit_of_work import begin_session, request_unit
from loyalty.config import Settings
from loyalty.errors import CsrfTokenInvalid, TerminalNotPaired
from loyalty.services import web_sessions
from loyalty.services.context import Actor, Context, VendorState
from loyalty.services.web_sessions import TerminalHolder

SECURE_COOKIE = "__Host-loyalty_session"
PLAIN_COOKIE = "loyalty_session"
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


def clear_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(cookie_name(settings), path="/", secure=is_https(settings), httponly=True, samesite="strict")


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


def check_csrf(request: Request, holder: TerminalHolder, given: str | None) -> None:
    """Raises CsrfTokenInvalid (403) unless `given` is the session's CSRF token and the browser's
    `Origin`, when it sends one, is ours."""
    settings = settings_of(request)
    if not web_sessions.is_csrf_token(settings, holder.token_hash, given) or not _same_origin(request, settings):
        raise CsrfTokenInvalid()


def _same_origin(request: Request, settings: Settings) -> bool:
    origin = request.headers.get("origin")
    if origin is None:
        return True  # no browser sends a cross-site write without it; the token is then the check
    ours = {_origin_of(settings.public_base_url), _origin_of(str(request.base_url))}
    return origin.rstrip("/") in ours


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
