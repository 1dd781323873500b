"""A vendor's users (owners and managers who sign in to the dashboard): the admin invites the first ones."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from loyalty.api.deps import AdminContext
from loyalty.api.error_responses import error_responses
from loyalty.api.schemas.users import UserInvitedOut
from loyalty.api.unit_of_work import UnitOfWorkRoute
from loyalty.errors import UserAlreadyExists, VendorNotFound
from loyalty.models.base import MAX_ID
from loyalty.services import accounts
from loyalty.services.accounts import UserInvite

router = APIRouter(route_class=UnitOfWorkRoute)

VendorId = Annotated[int, Path(ge=1, le=MAX_ID, description="The vendor's id.")]


@router.post(
    "/vendors/{vendor_id}/users",
    status_code=201,
    response_model=UserInvitedOut,
    summary="Invite an owner or a manager of the vendor: a one-time link to choose a password (7 days)",
    responses=error_responses(VendorNotFound, UserAlreadyExists),
)
async def invite_user(vendor_id: VendorId, body: UserInvite, ctx: AdminContext) -> UserInvitedOut:
    """Nobody sets a password for someone else: send the person the link; it works once."""
    invitation = await accounts.invite(ctx, vendor_id, body)
    return UserInvitedOut.from_invitation(invitation, ctx.settings.public_base_url)
