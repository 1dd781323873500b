"""The vendor's own API key: rotate it (a new key, shown once; the calling key revoked at once)."""

from __future__ import annotations

from fastapi import APIRouter

from loyalty.api.deps import VendorContext
from loyalty.api.schemas.vendors import ApiKeyCreated
from loyalty.api.unit_of_work import UnitOfWorkRoute
from loyalty.services import api_keys

router = APIRouter(route_class=UnitOfWorkRoute)


@router.post(
    "/api-keys/rotate",
    status_code=201,
    response_model=ApiKeyCreated,
    summary="Replace the calling key: a new key of the same name and scope; the calling key stops working",
    description="The new key is shown only in this answer; the calling key is revoked in the same "
    "transaction, so from this answer on it is a 401. An `owner` or a `counter` key may rotate itself. "
    "No `Idempotency-Key`: keep the answer, or ask the admin for a new key if it is lost.",
)
async def rotate_key(ctx: VendorContext) -> ApiKeyCreated:
    issued = await api_keys.rotate_key(ctx)
    record = issued.record
    return ApiKeyCreated(
        id=record.id,
        name=record.name,
        key=issued.secret,
        key_prefix=record.key_prefix,
        vendor_id=ctx.vendor_id,
        scope=record.scope,  # a vendor key: owner or counter (the table's CHECK)
        created_at=record.created_at,
    )
