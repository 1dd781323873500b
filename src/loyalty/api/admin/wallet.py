"""Admin: the wallet outbox, the updates waiting or given up, and a retry for one."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from loyalty.api.deps import AdminContext
from loyalty.api.error_responses import error_responses
from loyalty.api.schemas.common import PageOut, PageParams
from loyalty.api.schemas.wallet import OutboxRowOut
from loyalty.api.unit_of_work import UnitOfWorkRoute
from loyalty.errors import OutboxRowNotFound
from loyalty.models import OutboxStatus
from loyalty.models.base import MAX_ID
from loyalty.services import outbox

router = APIRouter(route_class=UnitOfWorkRoute)

RowId = Annotated[int, Path(ge=1, le=MAX_ID, description="The outbox row's id.")]


@router.get(
    "/wallet/outbox",
    response_model=PageOut[OutboxRowOut],
    summary="Wallet updates waiting to be sent, or parked after failures (the longest waiting first)",
)
async def list_outbox(
    ctx: AdminContext,
    page: Annotated[PageParams, Query()],
    status: Annotated[Literal["pending", "parked"], Query(description="`pending` or `parked`.")] = "pending",
) -> PageOut[OutboxRowOut]:
    found = await outbox.list_rows(ctx, OutboxStatus(status), limit=page.limit, offset=page.offset)
    return PageOut[OutboxRowOut].of(found, [OutboxRowOut.model_validate(row) for row in found.items])


@router.post(
    "/wallet/outbox/{row_id}/retry",
    response_model=OutboxRowOut,
    summary="Send a wallet update again now (after fixing what parked it)",
    responses=error_responses(OutboxRowNotFound),
)
async def retry_outbox_row(ctx: AdminContext, row_id: RowId) -> OutboxRowOut:
    return OutboxRowOut.model_validate(await outbox.retry_now(ctx, row_id))
