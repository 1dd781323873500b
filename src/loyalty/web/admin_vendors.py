"""A vendor's page for the platform admin (PAGES.md, "Platform admin"): its details and programme; change its
name, web address, time zone and language (the admin API's PATCH); switch it off and on; its users, with
"Invite an owner" (a one-time link shown once); its API keys, with "Create a key" (the key shown once) and
"Revoke". Every change goes through the service the admin API calls."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from loyalty.api.errors import RolledBackAnswer
from loyalty.api.unit_of_work import UnitOfWorkRoute
from loyalty.errors import ApiKeyNotFound, LoyaltyError, ProgramNotFound, VendorNotFound
from loyalty.i18n import N_, Message
from loyalty.models import LoyaltyProgram
from loyalty.services import accounts, api_keys, programs, stats, vendors
from loyalty.services.accounts import Invitation, UserInvite
from loyalty.services.api_keys import ApiKeyCreate, IssuedKey
from loyalty.services.context import Actor, Context
from loyalty.services.vendors import VendorUpdate
from loyalty.services.web_sessions import UserHolder
from loyalty.web.admin import admin_form, admin_page, admin_signed_in, vendor_form, vendor_problem
from loyalty.web.forms import form_int

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)

_KEY_SHOWN = ("id", "name", "key_prefix", "scope", "created_at", "revoked_at")  # never the hash

MAX_KEYS = 200  # on one page: more than any shop has
DONE = {
    "edit": N_("Saved."),
    "deactivate": N_("Switched off: its keys, sessions and public pages are refused until it is switched on again."),
    "activate": N_("Switched on: its keys, users and public pages work again."),
    "revoke": N_("Revoked: the key is refused from now on."),
}
PROBLEMS = {
    "invite": N_("Give an e-mail address and a role."),
    "key": N_("Give the key a name of at most 200 characters, and a scope."),
}
_PROGRAM_SHOWN = (
    "name",
    "program_type",
    "is_active",
    "stamps_target",
    "stamps_reward_description",
    "points_per_euro",
    "cooldown_minutes",
    "max_daily_stamps",
    "require_staff_pin",
)


@router.get("/admin/vendors/{vendor_id}")
async def vendor_page(request: Request, vendor_id: str) -> Response:
    signed_in = await admin_signed_in(request)
    if isinstance(signed_in, Response):
        return signed_in
    holder, ctx = signed_in
    try:
        screen = await _vendor_of(ctx, _vendor_id(vendor_id))
    except VendorNotFound as error:
        return admin_page(request, holder, "admin_refused.html", status_code=404, error=error)
    return _draw(request, holder, screen, done=N_("Created.") if request.query_params.get("created") else None)


@router.post("/admin/vendors/{vendor_id}")
async def change_vendor(request: Request, vendor_id: str) -> Response:
    """One form per change: `edit` (name, slug, timezone, default_locale), `deactivate`, `activate`, `invite`
    (e-mail, role: the link is shown once), `key` (name, scope: the key is shown once), `revoke` (key_id).
    The page again with what was done, or why not (the change rolled back)."""
    posted = await admin_form(request)
    if isinstance(posted, Response):
        return posted
    holder, ctx, form = posted
    try:
        before = await _vendor_of(ctx, _vendor_id(vendor_id))
    except VendorNotFound as error:
        return admin_page(request, holder, "admin_refused.html", status_code=404, error=error)
    action, vendor = form.get("action", ""), before["vendor"]["id"]
    shown: dict[str, Any] = {}
    try:
        shown = await _apply(ctx, vendor, action, form, before)
    except (ValidationError, LoyaltyError) as error:
        # Drawn from what was read before, then rolled back: a refused change leaves nothing half done.
        problem, field, status = _problem(action, error)
        typed = vendor_form(form) if action == "edit" else {}
        page = _draw(
            request,
            holder,
            before,
            problem=problem,
            problem_field=field,
            problem_action=action,
            typed=typed,
            status_code=status,
        )
        raise RolledBackAnswer(page) from None
    return _draw(request, holder, await _vendor_of(ctx, vendor), done=DONE.get(action), **shown)


async def _apply(
    ctx: Context, vendor_id: int, action: str, form: dict[str, str], before: dict[str, Any]
) -> dict[str, Any]:
    """Makes the change; returns what to show once (the invitation link, the new key)."""
    if action == "edit":
        typed = vendor_form(form)
        await vendors.update_vendor(ctx, vendor_id, VendorUpdate(**typed))
    elif action in ("deactivate", "activate"):
        await vendors.set_vendor_active(ctx, vendor_id, action == "activate")
    elif action == "invite":
        new = UserInvite(email=form.get("email", "").strip()[:320], role=_role(form))
        return {"invitation": _invitation_link(ctx, await accounts.invite(ctx, vendor_id, new))}
    elif action == "key":
        fields = ApiKeyCreate(name=form.get("name", "").strip()[:300], scope=_scope(form))
        issued: IssuedKey = await api_keys.create_vendor_key(ctx, vendor_id, fields.name, fields.scope)
        return {"new_key": {"name": issued.record.name, "secret": issued.secret, "scope": fields.scope}}
    elif action == "revoke":
        key_id = form_int(form.get("key_id")) or 0
        if key_id not in {key["id"] for key in before["keys"]}:
            raise ApiKeyNotFound(key_id)  # another vendor's key (or the admin's) is not revoked from here
        await api_keys.revoke_key(ctx, key_id)
    return {}


def _problem(action: str, error: ValidationError | LoyaltyError) -> tuple[Message, str | None, int]:
    if action == "edit":
        return vendor_problem(error)
    if isinstance(error, LoyaltyError):
        return error.message, None, error.status_code
    return PROBLEMS[action], None, 400  # only `invite` and `key` build a model here (`edit`'s is above)


def _role(form: dict[str, str]) -> Literal["owner", "manager"]:
    return "manager" if form.get("role") == "manager" else "owner"


def _scope(form: dict[str, str]) -> Literal["owner", "counter"]:
    return "counter" if form.get("scope") == "counter" else "owner"


def _invitation_link(ctx: Context, invitation: Invitation) -> dict[str, str]:
    return {"email": invitation.user.email, "url": f"{ctx.settings.public_base_url.rstrip('/')}{invitation.path}"}


def _vendor_id(given: str) -> int:
    """The path's vendor id; VendorNotFound (404) for anything that is not one (`abc`, `²`, 5,000 digits)."""
    vendor_id = form_int(given)
    if vendor_id is None:
        raise VendorNotFound()
    return vendor_id


def _as_vendor(ctx: Context, vendor_id: int) -> Context:
    """`ctx` acting for the vendor, for the services that read the calling vendor's own (its users, its
    programme); only reads are made through it."""
    return replace(ctx, actor=Actor(vendor_id=vendor_id), vendor_state=None)


async def _vendor_of(ctx: Context, vendor_id: int) -> dict[str, Any]:
    """The vendor's page as plain values: a refused change is drawn from them after its rollback expired
    the rows. Raises VendorNotFound (404)."""
    vendor = await vendors.get_vendor(ctx, vendor_id)
    own = _as_vendor(ctx, vendor_id)
    try:
        program: LoyaltyProgram | None = await programs.get_program(own)
    except ProgramNotFound:
        program = None
    keys = (await api_keys.list_vendor_keys(ctx, vendor_id, limit=MAX_KEYS, offset=0)).items
    return {
        "vendor": {
            column: getattr(vendor, column)
            for column in ("id", "name", "slug", "timezone", "default_locale", "is_active", "created_at")
        },
        "program": {column: getattr(program, column) for column in _PROGRAM_SHOWN} if program else None,
        "figures": await stats.program_stats(ctx, program, vendor.timezone) if program else None,
        "users": [
            {
                "id": user.id,
                "email": user.email,
                "role": user.role,
                "accepted": user.password_hash is not None,
                "last_sign_in_at": user.last_sign_in_at,
            }
            for user in await accounts.vendor_users(own)
        ],
        "keys": [{column: getattr(key, column) for column in _KEY_SHOWN} for key in keys],
    }


def _draw(
    request: Request, holder: UserHolder, screen: dict[str, Any], status_code: int = 200, **context: Any
) -> HTMLResponse:
    return admin_page(request, holder, "admin_vendor.html", status_code=status_code, **screen, **context)
