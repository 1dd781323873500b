"""A signed-in person's own password (PAGES.md, "Sessions"): the current one first, the new one twice; their
other sessions end, so whoever kept one elsewhere is signed out."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from loyalty.api.errors import RolledBackAnswer
from loyalty.api.unit_of_work import UnitOfWorkRoute
from loyalty.errors import PasswordTooWeak, RateLimited, SignInFailed
from loyalty.i18n import N_
from loyalty.services import accounts, rate_limits
from loyalty.services.accounts import SIGN_IN_WINDOW_SECONDS
from loyalty.web.accounts import refund_attempt, sign_in_buckets
from loyalty.web.dashboard import dashboard_page, posted_form, refused, who_signed_in

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)


@router.get("/vendor/password")
async def password_page(request: Request) -> Response:
    signed_in = await who_signed_in(request)
    if isinstance(signed_in, Response):
        return signed_in
    holder, _ = signed_in
    return dashboard_page(request, holder, "vendor_password.html")


@router.post("/vendor/password")
async def change_password(request: Request) -> Response:
    """The signed-in person's new password (the current one first, the new one twice); their other sessions
    end. A refusal is the form again, with why."""
    posted = await posted_form(request)
    if isinstance(posted, Response):
        return posted
    holder, ctx, form = posted
    new = form.get("password", "")[:1024]
    if new != form.get("password_again", "")[:1024]:
        problem = N_("The two passwords are not the same.")
        return dashboard_page(request, holder, "vendor_password.html", status_code=400, problem=problem)
    buckets = sign_in_buckets(request, holder.email)  # guessing the current password here counts as at sign-in
    try:  # in this request's transaction, which commits: a refusal here is an answer, not an error
        for bucket, limit in buckets:
            await rate_limits.hit(ctx, bucket, limit=limit, window_seconds=SIGN_IN_WINDOW_SECONDS)
    except RateLimited as error:
        raise RolledBackAnswer(refused(request, holder, error)) from None
    try:
        await accounts.change_password(ctx, holder.user_id, form.get("current", "")[:1024], new, holder.session_id)
    except (SignInFailed, PasswordTooWeak) as error:
        if isinstance(error, PasswordTooWeak):  # the current password was right: no guess to count
            await refund_attempt(ctx, buckets)
        problem = N_("The current password is wrong.") if isinstance(error, SignInFailed) else error.message
        return dashboard_page(request, holder, "vendor_password.html", status_code=400, problem=problem)
    await refund_attempt(ctx, buckets)
    done = N_("Password changed; your other sessions have ended.")
    return dashboard_page(request, holder, "vendor_password.html", done=done)
