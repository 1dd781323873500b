"""Signing in to the vendor dashboard (PAGES.md, "Authentication"): accept an invitation by choosing a
password, sign in with e-mail and password, sign out, and "forgot password" (`/vendor/reset`, `/admin/reset`:
a one-time link by mail, then a new password).

Sign-in failures are counted per account and per client address (an IPv6 client by its /64), 5 and 20 per
15 minutes, then 429; a success takes its attempt back. "Forgot password" requests are counted alike (every
one: each may send a mail), and answered with the same page whether or not the account exists. Forms carry
the pre-session token (`web/sessions.py`, a double-submit cookie) and, once signed in, the session's CSRF
token; every write checks the Origin.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from loyalty.api.deps import client_block, client_ip, clock_of, public_context, settings_of
from loyalty.api.unit_of_work import UnitOfWorkRoute, request_unit
from loyalty.errors import (
    CsrfTokenInvalid,
    LinkInvalid,
    LoyaltyError,
    PasswordTooWeak,
    RateLimited,
    SignInFailed,
    Unauthenticated,
)
from loyalty.models import User, UserRole
from loyalty.services import accounts, rate_limits, web_sessions
from loyalty.services.accounts import (
    RESET_LIMIT_PER_ACCOUNT,
    RESET_LIMIT_PER_ACCOUNT_AND_ADDRESS,
    RESET_LIMIT_PER_ADDRESS,
    SIGN_IN_LIMIT_PER_ACCOUNT,
    SIGN_IN_LIMIT_PER_ACCOUNT_AND_ADDRESS,
    SIGN_IN_LIMIT_PER_ADDRESS,
    SIGN_IN_WINDOW_SECONDS,
)
from loyalty.services.cards import normalise_email
from loyalty.services.context import Context
from loyalty.web.forms import read_form
from loyalty.web.languages import page_locale
from loyalty.web.rendering import render
from loyalty.web.sessions import (
    CSRF_FIELD,
    check_csrf,
    check_form_token,
    clear_user_cookie,
    form_token,
    set_form_cookie,
    set_user_cookie,
    user_caller,
    user_cookie_name,
)

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)

LOGIN_PAGE = "/vendor/login"
ADMIN_LOGIN_PAGE = "/admin/login"
VENDOR_ROLES = (UserRole.OWNER, UserRole.MANAGER)
ADMIN_ROLES = (UserRole.ADMIN,)


@router.get(LOGIN_PAGE)
@router.get(ADMIN_LOGIN_PAGE)
async def login_page(request: Request) -> Response:
    return _login_form(request, error=None)


@router.post(LOGIN_PAGE)
@router.post(ADMIN_LOGIN_PAGE)
async def login(request: Request) -> Response:
    """Signs in an owner or a manager at `/vendor/login`, a platform admin at `/admin/login`: the session
    cookie, then 303 to `/vendor` or `/admin`. Raises nothing: a refusal is the form again, the same for an
    unknown e-mail, a wrong password and an account of the other kind."""
    roles = ADMIN_ROLES if request.url.path == ADMIN_LOGIN_PAGE else VENDOR_ROLES
    form = await read_form(request)
    try:
        check_form_token(request, form.get(CSRF_FIELD))
    except CsrfTokenInvalid:
        return _login_form(request, error="expired", status_code=403)
    email = form.get("email", "").strip()[:320]
    buckets = sign_in_buckets(request, email)
    try:
        await count_attempt(request, buckets)
    except RateLimited:
        return _login_form(request, error="busy", status_code=429, email=email)
    ctx = await public_context(request)
    try:
        user = await accounts.sign_in(ctx, email, form.get("password", "")[:LONGEST_PASSWORD], roles)
    except SignInFailed:
        return _login_form(request, error="wrong", status_code=401, email=email)
    await refund_attempt(ctx, buckets)
    return await _signed_in(request, ctx, user)


def sign_in_buckets(request: Request, email: str) -> list[tuple[str, int]]:
    """The limits a sign-in counts against. The tight one is per account and address, so someone elsewhere
    guessing at an owner's account cannot keep the owner out with five wrong passwords."""
    return _buckets(
        "signin", request, email,
        (SIGN_IN_LIMIT_PER_ACCOUNT_AND_ADDRESS, SIGN_IN_LIMIT_PER_ADDRESS, SIGN_IN_LIMIT_PER_ACCOUNT),
    )  # fmt: skip


def reset_buckets(request: Request, email: str) -> list[tuple[str, int]]:
    """The limits a "forgot password" request counts against: per account and address, per address (a sweep
    of e-mails), per account (a mail bomb at one person from many places). Counted whether or not the
    account exists, so the limit says nothing either."""
    return _buckets(
        "reset", request, email,
        (RESET_LIMIT_PER_ACCOUNT_AND_ADDRESS, RESET_LIMIT_PER_ADDRESS, RESET_LIMIT_PER_ACCOUNT),
    )  # fmt: skip


def _buckets(kind: str, request: Request, email: str, limits: tuple[int, int, int]) -> list[tuple[str, int]]:
    """(bucket, limit) per account and address, per address, per account (IPv6 clients by their /64)."""
    account = hashlib.sha256(normalise_email(email).encode()).hexdigest()[:32]  # no e-mail in the table
    address = client_block(request)
    both, by_address, by_account = limits
    return [
        (f"{kind}:account:{account}:{address}", both),
        (f"{kind}:address:{address}", by_address),
        (f"{kind}:account:{account}", by_account),
    ]


async def count_attempt(request: Request, buckets: list[tuple[str, int]]) -> None:
    """Counts a password attempt against each bucket, committed apart (a failed one still counts). Raises
    RateLimited (429) past a bucket's limit."""
    for bucket, limit in buckets:
        await rate_limits.hit_apart(
            request_unit(request), settings_of(request), clock_of(request), bucket, limit=limit,
            window_seconds=SIGN_IN_WINDOW_SECONDS,
        )  # fmt: skip


async def refund_attempt(ctx: Context, buckets: list[tuple[str, int]]) -> None:
    """Takes a right password's attempt back: only failures count."""
    for bucket, _ in buckets:
        await rate_limits.refund(ctx, bucket, window_seconds=SIGN_IN_WINDOW_SECONDS)


async def _signed_in(request: Request, ctx: Context, user: User) -> Response:
    """A new session for `user` on this browser (ending the one it had), then 303 to the dashboard (an
    admin's: `/admin`)."""
    settings = settings_of(request)
    if previous := request.cookies.get(_user_cookie(request)):
        await web_sessions.revoke_session(ctx, web_sessions.hash_token(previous))
    issued = await web_sessions.open_user_session(ctx, user, client_ip(request), request.headers.get("user-agent"))
    response = RedirectResponse(home_of(user.role), status_code=303)
    set_user_cookie(response, settings, issued.token)
    return response


def home_of(role: str) -> str:
    return "/admin" if role == UserRole.ADMIN else "/vendor"


@router.post("/vendor/logout")
@router.post("/admin/logout")
async def logout(request: Request) -> Response:
    """Ends this browser's session (with its CSRF token: no other site can sign a person out), then the
    sign-in page."""
    page = ADMIN_LOGIN_PAGE if request.url.path.startswith("/admin") else LOGIN_PAGE
    response = RedirectResponse(page, status_code=303)
    try:
        holder = await user_caller(request)
    except Unauthenticated:
        return response
    form = await read_form(request)
    try:
        check_csrf(request, holder, form.get(CSRF_FIELD))
    except CsrfTokenInvalid as error:
        return _refused(request, error)
    ctx = await public_context(request)
    await web_sessions.revoke_session(ctx, holder.token_hash)
    clear_user_cookie(response, settings_of(request))
    return response


@router.get("/vendor/invite/{token}")
@router.get("/admin/invite/{token}")
async def invitation_page(request: Request, token: str) -> Response:
    return await _link_page(request, token, INVITATION)


@router.post("/vendor/invite/{token}")
@router.post("/admin/invite/{token}")
async def accept_invitation(request: Request, token: str) -> Response:
    """Sets the invited person's password (twice, the same) and signs them in."""
    return await _use_link(request, token, INVITATION)


# --- forgot password -------------------------------------------------------------------------------


@router.get("/vendor/reset")
@router.get("/admin/reset")
async def reset_request_page(request: Request) -> Response:
    return _reset_request_form(request, error=None)


@router.post("/vendor/reset")
@router.post("/admin/reset")
async def request_reset(request: Request) -> Response:
    """ "Forgot password": queues a reset mail when the e-mail is an account's (any kind: the mail's link
    leads to that account's own page), then one answer page whatever the e-mail, with nothing hashed for an
    existing account only. Raises nothing: a refusal (an expired form, no e-mail, too many requests) is the
    form again."""
    form = await read_form(request)
    try:
        check_form_token(request, form.get(CSRF_FIELD))
    except CsrfTokenInvalid:
        return _reset_request_form(request, error="expired", status_code=403)
    email = form.get("email", "").strip()[:320]
    if "@" not in email:
        return _reset_request_form(request, error="email", status_code=400, email=email)
    try:
        await count_attempt(request, reset_buckets(request, email))
    except RateLimited:
        return _reset_request_form(request, error="busy", status_code=429, email=email)
    await accounts.request_reset(await public_context(request), email)
    return render(request, "vendor_reset_sent.html", page_locale(request), no_store=True, admin=_admin_page(request))


@router.get("/vendor/reset/{token}")
@router.get("/admin/reset/{token}")
async def reset_page(request: Request, token: str) -> Response:
    return await _link_page(request, token, RESET)


@router.post("/vendor/reset/{token}")
@router.post("/admin/reset/{token}")
async def reset_password(request: Request, token: str) -> Response:
    """The new password (twice, the same); every other session of the person ends, and this browser is
    signed in. A used, expired or unknown link: the LINK_INVALID page."""
    return await _use_link(request, token, RESET)


# --- one-time links: an invitation's, a reset's --------------------------------------------------


@dataclass(frozen=True)
class OneTimeLink:
    """What an invitation's link and a reset's link do alike: find the person the link names (LinkInvalid
    when used, expired or unknown), then set their password with it; `is_reset` words the page."""

    find: Callable[[Context, str], Awaitable[User]]
    use: Callable[[Context, str, str], Awaitable[User]]
    is_reset: bool


INVITATION = OneTimeLink(accounts.invited_user, accounts.accept_invitation, is_reset=False)
RESET = OneTimeLink(accounts.reset_user, accounts.reset_password, is_reset=True)
LONGEST_TOKEN, LONGEST_PASSWORD = 100, 1024  # what is read of each; longer is cut, never a 500


async def _link_page(request: Request, token: str, link: OneTimeLink) -> Response:
    try:
        user = await link.find(await public_context(request), token[:LONGEST_TOKEN])
    except LinkInvalid as error:
        return _refused(request, error)
    return _password_form(request, user.email, link, error=None)


async def _use_link(request: Request, token: str, link: OneTimeLink) -> Response:
    """The chosen password (twice, the same) set through `link`, then this browser signed in; the form again
    for two different passwords or a weak one; the refusal page for a forged form or a dead link."""
    form = await read_form(request)
    try:
        check_form_token(request, form.get(CSRF_FIELD))
    except CsrfTokenInvalid as error:
        return _refused(request, error)
    ctx = await public_context(request)
    token = token[:LONGEST_TOKEN]
    try:
        user = await link.find(ctx, token)
    except LinkInvalid as error:
        return _refused(request, error)
    password = form.get("password", "")[:LONGEST_PASSWORD]
    if password != form.get("password_again", "")[:LONGEST_PASSWORD]:
        return _password_form(request, user.email, link, error="mismatch", status_code=400)
    try:
        user = await link.use(ctx, token, password)
    except PasswordTooWeak:
        return _password_form(request, user.email, link, error="weak", status_code=400)
    except LinkInvalid as error:
        return _refused(request, error)
    return await _signed_in(request, ctx, user)


# --- drawing -------------------------------------------------------------------------------------


def _login_form(request: Request, *, error: str | None, status_code: int = 200, email: str = "") -> HTMLResponse:
    admin = request.url.path == ADMIN_LOGIN_PAGE
    return _with_form_token(request, "vendor_login.html", status_code, error=error, email=email, admin=admin)


def _password_form(
    request: Request, email: str, link: OneTimeLink, *, error: str | None, status_code: int = 200
) -> HTMLResponse:
    return _with_form_token(
        request, "choose_password.html", status_code, error=error, email=email, reset=link.is_reset,
        admin=_admin_page(request),
    )  # fmt: skip


def _reset_request_form(
    request: Request, *, error: str | None, status_code: int = 200, email: str = ""
) -> HTMLResponse:
    admin = _admin_page(request)
    return _with_form_token(request, "vendor_reset.html", status_code, error=error, email=email, admin=admin)


def _admin_page(request: Request) -> bool:
    return request.url.path.startswith("/admin/")


def _refused(request: Request, error: LoyaltyError) -> HTMLResponse:
    locale = page_locale(request)
    return render(request, "vendor_refused.html", locale, status_code=error.status_code, error=error, no_store=True)


def _with_form_token(request: Request, template: str, status_code: int, **context: Any) -> HTMLResponse:
    token = form_token(request)
    locale = page_locale(request)
    # never cached; same-origin referrer, so its form posts carry our Origin (no-referrer would send null)
    page = render(request, template, locale, status_code=status_code, no_store=True, csrf=token, **context)
    set_form_cookie(page, settings_of(request), token)
    return page


def _user_cookie(request: Request) -> str:
    return user_cookie_name(settings_of(request))
