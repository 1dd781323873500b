"""The vendor's journal (paged JSON or a CSV download) and voids, the ledger's only correction."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import StreamingResponse

from loyalty.api.deps import OwnerContext, VendorContext, database_of
from loyalty.api.error_responses import error_responses
from loyalty.api.idempotency import IdempotencyKey, respond
from loyalty.api.schemas.common import InstantIn, PageOut, PageParams
from loyalty.api.schemas.transactions import TransactionOut
from loyalty.api.unit_of_work import UnitOfWorkRoute
from loyalty.errors import (
    CardInactive,
    CardNotFound,
    IdempotencyKeyReused,
    InvalidStaffPin,
    ProgramNotFound,
    StaffPinLocked,
    StaffPinRequired,
    TransactionNotFound,
    TransactionNotVoidable,
)
from loyalty.models import StaffPin, TransactionType
from loyalty.models.base import MAX_ID
from loyalty.services import transactions, voids
from loyalty.services.context import Context
from loyalty.services.transactions import ExportCursor, TransactionFilter, TransactionView
from loyalty.services.voids import VoidRequest

router = APIRouter(route_class=UnitOfWorkRoute)

CSV_MEDIA_TYPE = "text/csv"


@router.post(
    "/transactions/{transaction_id}/void",
    status_code=201,
    response_model=TransactionOut,
    responses=error_responses(
        ProgramNotFound,
        TransactionNotFound,
        TransactionNotVoidable,
        CardNotFound,
        CardInactive,
        StaffPinRequired,
        InvalidStaffPin,
        StaffPinLocked,
        IdempotencyKeyReused,
    ),
    summary="Void a ledger entry with a compensating entry",
)
async def void_transaction(
    transaction_id: Annotated[int, Path(ge=1, le=MAX_ID, description="The ledger entry's id.")],
    body: VoidRequest,
    request: Request,
    ctx: VendorContext,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Reverses the entry's deltas, at most once, never below a zero balance
    (400 `TRANSACTION_NOT_VOIDABLE`, `reason`: `already_voided`, `is_void` or `negative_balance`).
    The answer is the new `void` entry."""

    async def produce() -> TransactionOut:
        entry = await voids.void_transaction(ctx, transaction_id, body)
        staff_pin = await ctx.session.get(StaffPin, entry.staff_pin_id) if entry.staff_pin_id else None
        return TransactionOut.from_view(TransactionView(entry, staff_pin.name if staff_pin else None))

    return await respond(request, ctx, key=idempotency_key, status_code=201, produce=produce)


@router.get(
    "/transactions",
    response_model=PageOut[TransactionOut],
    responses={
        200: {"content": {CSV_MEDIA_TYPE: {"schema": {"type": "string"}}}, "description": "The page, or CSV"},
    },
    summary="The vendor's journal, newest first",
)
async def list_transactions(
    request: Request,
    ctx: OwnerContext,
    page: Annotated[PageParams, Query()],
    since: Annotated[InstantIn | None, Query(description="Entries at or after this instant")] = None,
    until: Annotated[InstantIn | None, Query(description="Entries before this instant")] = None,
    transaction_type: TransactionType | None = None,
    card_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> PageOut[TransactionOut] | Response:
    """With `Accept: text/csv`, the whole filtered journal is streamed as a CSV file (`limit` and
    `offset` are ignored)."""
    where = TransactionFilter(
        since=since,
        until=until,
        transaction_type=transaction_type,
        card_id=card_id,
    )
    if CSV_MEDIA_TYPE in request.headers.get("accept", ""):
        return csv_download(request, ctx, where)
    found = await transactions.vendor_transactions(ctx, where, limit=page.limit, offset=page.offset)
    return PageOut[TransactionOut].of(found, [TransactionOut.from_view(view) for view in found.items])


def csv_download(request: Request, ctx: Context, where: TransactionFilter) -> StreamingResponse:
    """The journal as a CSV file, for the API and the dashboard's `/vendor/export.csv`. The export streams
    once the request's unit of work is over, reading chunk by chunk, each chunk in a unit of its own
    (`transactions.vendor_transactions_csv_chunk`): it holds a connection for a chunk at a time, so
    exports beside the counter leave it connections, and a slow client holds none."""
    database = database_of(request)

    async def chunks() -> AsyncIterator[bytes]:
        yield transactions.csv_header().encode()
        cursor: ExportCursor | None = None
        while True:
            async with database.unit_of_work() as session:
                text, cursor = await transactions.vendor_transactions_csv_chunk(
                    Context(session, ctx.settings, ctx.clock, ctx.actor, ctx.vendor_state), where, cursor
                )
            if cursor is None:
                yield text.encode()
                return
            # Let the request woken by the connection just given back take it: without this turn of
            # the event loop the export takes it straight back (the pool's queue lets a task that has
            # not yielded get ahead of those waiting), and eight exports starve the counter.
            await asyncio.sleep(0)
            yield text.encode()

    filename = f"transactions-{ctx.vendor_id}-{ctx.clock.now():%Y%m%d-%H%M%S}.csv"
    return StreamingResponse(
        chunks(),
        media_type=f"{CSV_MEDIA_TYPE}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
