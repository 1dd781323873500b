"""Admin: create, list, read, change, switch off and on vendors (tenants)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from loyalty.api.deps import AdminContext
from loyalty.api.error_responses import error_responses
from loyalty.api.schemas.common import PageOut, PageParams
from loyalty.api.schemas.vendors import VendorOut
from loyalty.api.unit_of_work import UnitOfWorkRoute
from loyalty.errors import VendorAlreadyExists, VendorNotFound
from loyalty.models.base import MAX_ID  # a larger id cannot exist, and must not reach the database
from loyalty.services import vendors
from loyalty.services.vendors import VendorCreate, VendorUpdate

router = APIRouter(route_class=UnitOfWorkRoute)

VendorId = Annotated[int, Path(ge=1, le=MAX_ID, description="The vendor's id.")]


@router.post(
    "/vendors",
    status_code=201,
    response_model=VendorOut,
    summary="Create a vendor",
    responses=error_responses(VendorAlreadyExists),
)
async def create_vendor(body: VendorCreate, ctx: AdminContext) -> VendorOut:
    return VendorOut.model_validate(await vendors.create_vendor(ctx, body))


@router.get(
    "/vendors",
    response_model=PageOut[VendorOut],
    summary="List vendors, optionally searching name and slug",
)
async def list_vendors(
    ctx: AdminContext,
    page: Annotated[PageParams, Query()],
    search: Annotated[str | None, Query(max_length=200, description="Part of the name or slug.")] = None,
    is_active: Annotated[bool | None, Query(description="Only active (true) or switched-off (false) vendors.")] = None,
) -> PageOut[VendorOut]:
    found = await vendors.list_vendors(ctx, search=search, is_active=is_active, limit=page.limit, offset=page.offset)
    return PageOut[VendorOut].of(found, [VendorOut.model_validate(v) for v in found.items])


@router.get(
    "/vendors/{vendor_id}",
    response_model=VendorOut,
    summary="Read a vendor",
    responses=error_responses(VendorNotFound),
)
async def get_vendor(vendor_id: VendorId, ctx: AdminContext) -> VendorOut:
    return VendorOut.model_validate(await vendors.get_vendor(ctx, vendor_id))


@router.patch(
    "/vendors/{vendor_id}",
    response_model=VendorOut,
    summary="Change a vendor's name, slug, timezone or language",
    description="Only the fields sent change. A new `slug` (the public address) must be free: 409 "
    "`VENDOR_ALREADY_EXISTS` otherwise.",
    responses=error_responses(VendorNotFound, VendorAlreadyExists),
)
async def update_vendor(vendor_id: VendorId, body: VendorUpdate, ctx: AdminContext) -> VendorOut:
    return VendorOut.model_validate(await vendors.update_vendor(ctx, vendor_id, body))


@router.post(
    "/vendors/{vendor_id}/deactivate",
    response_model=VendorOut,
    summary="Switch a vendor off: its keys are refused at once, its public programme is not found",
    description="Its keys answer 403 `FORBIDDEN` (`reason`: `vendor_inactive`) from the next request on. "
    "Nothing else changes: activating it again restores everything.",
    responses=error_responses(VendorNotFound),
)
async def deactivate_vendor(vendor_id: VendorId, ctx: AdminContext) -> VendorOut:
    return VendorOut.model_validate(await vendors.set_vendor_active(ctx, vendor_id, False))


@router.post(
    "/vendors/{vendor_id}/activate",
    response_model=VendorOut,
    summary="Switch a vendor on again",
    responses=error_responses(VendorNotFound),
)
async def activate_vendor(vendor_id: VendorId, ctx: AdminContext) -> VendorOut:
    return VendorOut.model_validate(await vendors.set_vendor_active(ctx, vendor_id, True))
