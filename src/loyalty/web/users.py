"""The dashboard's users (PAGES.md, "Vendor dashboard": owners only): invite an owner or a manager (a one-time
link e-mailed to them by `loyalty worker`, and shown once for the owner to pass on), invite someone again (a
fresh link, the earlier ones stop working), make someone an owner or a manager, remove someone (their
sessions end at once). A shop always keeps one owner."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from loyalty.api.errors import RolledBackAnswer
from loyalty.api.unit_of_work import UnitOfWorkRoute
from loyalty.errors import LoyaltyError
from loyalty.i18n import N_
from loyalty.services import accounts
from loyalty.services.accounts import Invitation, UserInvite
from loyalty.services.context import Context
from loyalty.services.web_sessions import UserHolder
from loyalty.web.dashboard import dashboard_page, posted_form, who_signed_in
from loyalty.web.forms import form_int

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)

DONE = {"role": N_("Role changed."), "remove": N_("Removed: their sessions have ended.")}
ALREADY_ACCEPTED = N_("This person has already chosen a password: there is no invitation to send again.")
_SHOWN = ("id", "email", "role", "password_hash", "last_sign_in_at")


@router.get("/vendor/users")
async def users_page(request: Request) -> Response:
    signed_in = await who_signed_in(request, owner=True)
    if isinstance(signed_in, Response):
        return signed_in
    holder, ctx = signed_in
    return _draw(request, holder, await _users_of(ctx))


@router.post("/vendor/users")
async def change_users(request: Request) -> Response:
    """One form per change: `invite` (e-mail, role), `again` (a user who has not chosen a password yet),
    `role` (a user, a role), `remove` (a user)."""
    posted = await posted_form(request, owner=True)
    if isinstance(posted, Response):
        return posted
    holder, ctx, form = posted
    before = await _users_of(ctx)
    action, user_id = form.get("action", ""), form_int(form.get("user_id")) or 0
    invitation: Invitation | None = None
    try:
        if action == "invite":
            new = UserInvite(email=form.get("email", "").strip()[:320], role=_role(form))
            invitation = await accounts.invite(ctx, holder.vendor_id or 0, new)
        elif action == "again":
            invitation = await accounts.invite_vendor_user_again(ctx, user_id)
            if invitation is None:
                raise RolledBackAnswer(_draw(request, holder, before, problem=ALREADY_ACCEPTED, status_code=409))
        elif action == "role":
            await accounts.change_role(ctx, user_id, _role(form))
        elif action == "remove":
            await accounts.remove_user(ctx, user_id)
    except (ValidationError, LoyaltyError) as error:
        problem = error.message if isinstance(error, LoyaltyError) else N_("Give an e-mail address and a role.")
        status = error.status_code if isinstance(error, LoyaltyError) else 400
        raise RolledBackAnswer(_draw(request, holder, before, problem=problem, status_code=status)) from None
    link = f"{ctx.settings.public_base_url.rstrip('/')}{invitation.path}" if invitation else None
    invited = invitation.user.email if invitation else None
    return _draw(request, holder, await _users_of(ctx), invitation_link=link, invited=invited, done=DONE.get(action))


def _role(form: dict[str, str]) -> Literal["owner", "manager"]:
    return "owner" if form.get("role") == "owner" else "manager"


async def _users_of(ctx: Context) -> dict[str, Any]:
    """The vendor's users as plain values: a refused change is drawn from them after its rollback."""
    users = [{column: getattr(user, column) for column in _SHOWN} for user in await accounts.vendor_users(ctx)]
    return {"users": users}


def _draw(
    request: Request, holder: UserHolder, screen: dict[str, Any], status_code: int = 200, **context: Any
) -> HTMLResponse:
    return dashboard_page(request, holder, "vendor_users.html", status_code=status_code, **screen, **context)
