"""The dashboard's staff PINs (PAGES.md, "Vendor dashboard"): add a member of staff with their PIN, rename,
change the PIN, switch off or on again, unlock after wrong PINs. A PIN is never shown, only whose it is, its
lock and when it was last used. Owners and managers both manage staff."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from loyalty.api.errors import RolledBackAnswer
from loyalty.api.unit_of_work import UnitOfWorkRoute
from loyalty.errors import LoyaltyError, ProgramNotFound
from loyalty.i18n import N_
from loyalty.models import LoyaltyProgram
from loyalty.services import pins, programs
from loyalty.services.context import Context
from loyalty.services.pins import NewPin, PinChanges
from loyalty.services.web_sessions import UserHolder
from loyalty.web.dashboard import dashboard_page, posted_form, who_signed_in
from loyalty.web.forms import form_int

router = APIRouter(route_class=UnitOfWorkRoute, include_in_schema=False)

MAX_STAFF = 200  # on one page: more than any shop has
DONE = {
    "create": N_("Added."),
    "rename": N_("Renamed."),
    "pin": N_("PIN changed."),
    "deactivate": N_("Switched off: this PIN approves nothing until switched on again."),
    "activate": N_("Switched on."),
    "unlock": N_("Unlocked: the wrong PINs counted against it are cleared."),
}


@router.get("/vendor/staff")
async def staff_page(request: Request) -> Response:
    signed_in = await who_signed_in(request)
    if isinstance(signed_in, Response):
        return signed_in
    holder, ctx = signed_in
    return _draw(request, holder, await _staff_of(ctx))


@router.post("/vendor/staff")
async def change_staff(request: Request) -> Response:
    """One form per change: `create` (name, PIN), `rename`, `pin` (a new PIN), `deactivate`, `activate`,
    `unlock`; the page again with what was done, or why not."""
    posted = await posted_form(request)
    if isinstance(posted, Response):
        return posted
    holder, ctx, form = posted
    action, pin_id = form.get("action", ""), form_int(form.get("pin_id")) or 0
    before = await _staff_of(ctx)
    try:
        if before["program"] is None:
            raise ProgramNotFound()
        await _apply(ctx, before["program"], action, pin_id, form)
    except (ValidationError, LoyaltyError) as error:
        # Drawn from what was read before, then rolled back: a refused change leaves nothing half done.
        problem = error.message if isinstance(error, LoyaltyError) else N_("A name, and a PIN of 4 to 8 digits.")
        status = error.status_code if isinstance(error, LoyaltyError) else 400
        raise RolledBackAnswer(_draw(request, holder, before, problem=problem, status_code=status)) from None
    return _draw(request, holder, await _staff_of(ctx), done=DONE.get(action))


async def _apply(ctx: Context, program: LoyaltyProgram, action: str, pin_id: int, form: dict[str, str]) -> None:
    name, digits = form.get("name", "").strip(), form.get("pin", "").strip()
    if action == "create":
        await pins.create_pin(ctx, program, NewPin(name=name, pin=digits))
    elif action == "rename":
        await pins.update_pin(ctx, program, pin_id, PinChanges(name=name))
    elif action == "pin":
        await pins.update_pin(ctx, program, pin_id, PinChanges(pin=digits))
    elif action in ("deactivate", "activate"):
        await pins.update_pin(ctx, program, pin_id, PinChanges(is_active=action == "activate"))
    elif action == "unlock":
        await pins.unlock_pin(ctx, program, pin_id)


async def _staff_of(ctx: Context) -> dict[str, Any]:
    """The programme (None: none yet) and its staff PINs, and the time they were read."""
    try:
        program: LoyaltyProgram | None = await programs.get_program(ctx)
    except ProgramNotFound:
        program = None
    found = (await pins.list_pins(ctx, program, limit=MAX_STAFF, offset=0)).items if program else []
    # Plain values: a refused change is drawn from them after its savepoint rolled back and expired the rows.
    staff = [{column: getattr(pin, column) for column in _SHOWN} for pin in found]
    return {"program": program, "staff": staff, "now": ctx.clock.now()}


_SHOWN = ("id", "name", "is_active", "locked_until", "failed_attempts", "last_used_at")


def _draw(
    request: Request, holder: UserHolder, screen: dict[str, Any], status_code: int = 200, **context: Any
) -> HTMLResponse:
    return dashboard_page(request, holder, "vendor_staff.html", status_code=status_code, **screen, **context)
