"""Admin: issue a vendor's API keys (shown once), list them, and revoke any key."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from loyalty.api.deps import AdminContext
from loyalty.api.error_responses import error_responses
from loyalty.api.schemas.common import PageOut, PageParams
from loyalty.api.schemas.vendors import ApiKeyCreated, ApiKeyOut
from loyalty.api.unit_of_work import UnitOfWorkRoute
from loyalty.errors import ApiKeyNotFound, LastAdminKey, VendorNotFound
from loyalty.models.base import MAX_ID  # a larger id cannot exist, and must not reach the database
from loyalty.services import api_keys
from loyalty.services.api_keys import ApiKeyCreate

router = APIRouter(route_class=UnitOfWorkRoute)


@router.post(
    "/vendors/{vendor_id}/api-keys",
    status_code=201,
    response_model=ApiKeyCreated,
    summary="Issue an API key for a vendor (the key is shown only in this answer)",
    responses=error_responses(VendorNotFound),
)
async def create_vendor_key(
    vendor_id: Annotated[int, Path(ge=1, le=MAX_ID)], body: ApiKeyCreate, ctx: AdminContext
) -> ApiKeyCreated:
    issued = await api_keys.create_vendor_key(ctx, vendor_id, body.name, body.scope)
    record = issued.record
    return ApiKeyCreated(
        id=record.id,
        name=record.name,
        key=issued.secret,
        key_prefix=record.key_prefix,
        vendor_id=vendor_id,
        scope=body.scope,
        created_at=record.created_at,
    )


@router.get(
    "/vendors/{vendor_id}/api-keys",
    response_model=PageOut[ApiKeyOut],
    summary="List a vendor's API keys, revoked ones included, oldest first (never the key itself)",
    responses=error_responses(VendorNotFound),
)
async def list_vendor_keys(
    vendor_id: Annotated[int, Path(ge=1, le=MAX_ID)], ctx: AdminContext, page: Annotated[PageParams, Query()]
) -> PageOut[ApiKeyOut]:
    found = await api_keys.list_vendor_keys(ctx, vendor_id, limit=page.limit, offset=page.offset)
    return PageOut[ApiKeyOut].of(found, [ApiKeyOut.model_validate(key) for key in found.items])


@router.delete(
    "/api-keys/{key_id}",
    status_code=204,
    response_class=Response,
    summary="Revoke an API key; it stops working at once",
    description="The last active admin key cannot be revoked (409 `LAST_ADMIN_KEY`): create another first.",
    responses=error_responses(ApiKeyNotFound, LastAdminKey),
)
async def revoke_key(key_id: Annotated[int, Path(ge=1, le=MAX_ID)], ctx: AdminContext) -> Response:
    await api_keys.revoke_key(ctx, key_id)
    return Response(status_code=204)
