"""Admin: create, list and read vendors (tenants)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from loyalty.api.deps import AdminContext
from loyalty.api.schemas.common import PageOut, PageParams, error_responses
from loyalty.api.schemas.vendors import VendorCreate, VendorOut
from loyalty.api.unit_of_work import UnitOfWorkRoute
from loyalty.models.base import MAX_ID  # a larger id cannot exist, and must not reach the database
from loyalty.services import vendors

router = APIRouter(route_class=UnitOfWorkRoute)

VendorId = Annotated[int, Path(ge=1, le=MAX_ID, description="The vendor's id.")]


@router.post(
    "/vendors",
    status_code=201,
    response_model=VendorOut,
    summary="Create a vendor",
    responses=error_responses(401, 403, 409, 422),
)
async def create_vendor(body: VendorCreate, ctx: AdminContext) -> VendorOut:
    return VendorOut.model_validate(await vendors.create_vendor(ctx, body))


@router.get(
    "/vendors",
    response_model=PageOut[VendorOut],
    summary="List vendors, optionally searching name and slug",
    responses=error_responses(401, 403, 422),
)
async def list_vendors(
    ctx: AdminContext,
    page: Annotated[PageParams, Query()],
    search: Annotated[str | None, Query(max_length=200, description="Part of the name or slug.")] = None,
) -> PageOut[VendorOut]:
    found = await vendors.list_vendors(ctx, search=search, limit=page.limit, offset=page.offset)
    return PageOut[VendorOut].of(found, [VendorOut.model_validate(v) for v in found.items])


@router.get(
    "/vendors/{vendor_id}",
    response_model=VendorOut,
    summary="Read a vendor",
    responses=error_responses(401, 403, 404, 422),
)
async def get_vendor(vendor_id: VendorId, ctx: AdminContext) -> VendorOut:
    return VendorOut.model_validate(await vendors.get_vendor(ctx, vendor_id))
