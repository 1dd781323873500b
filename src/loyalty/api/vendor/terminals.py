"""Counter terminals: create one (with its pairing code), list, rename, re-pair, revoke, unlock.

Owner keys only: a counter key or a terminal must not make devices nor lift its own PIN lockout."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from loyalty.api.deps import OwnerContext, clock_of
from loyalty.api.error_responses import error_responses
from loyalty.api.idempotency import IdempotencyKey, respond
from loyalty.api.schemas.common import PageOut, PageParams
from loyalty.api.schemas.terminals import TerminalOut, TerminalPairingOut
from loyalty.api.unit_of_work import UnitOfWorkRoute
from loyalty.errors import IdempotencyKeyReused, TerminalNotFound
from loyalty.models.base import MAX_ID
from loyalty.services import terminals
from loyalty.services.terminals import TerminalChanges, TerminalCreate

router = APIRouter(route_class=UnitOfWorkRoute)

TerminalId = Annotated[int, Path(ge=1, le=MAX_ID, description="The terminal's id.")]


@router.post(
    "/terminals",
    status_code=201,
    response_model=TerminalPairingOut,
    summary="Create a counter terminal and its pairing code (8 digits, 10 minutes, one use)",
    responses=error_responses(IdempotencyKeyReused),
)
async def create_terminal(
    request: Request, ctx: OwnerContext, body: TerminalCreate, idempotency_key: IdempotencyKey = None
) -> Response:
    """Type the code at `/terminal/pair` on the tablet: that browser becomes this terminal."""

    async def produce() -> TerminalPairingOut:
        return TerminalPairingOut.from_code(await terminals.create_terminal(ctx, body))

    return await respond(request, ctx, key=idempotency_key, status_code=201, produce=produce)


@router.get("/terminals", response_model=PageOut[TerminalOut], summary="List the vendor's counter terminals")
async def list_terminals(
    request: Request, ctx: OwnerContext, page: Annotated[PageParams, Depends()]
) -> PageOut[TerminalOut]:
    found = await terminals.list_terminals(ctx, limit=page.limit, offset=page.offset)
    now = clock_of(request).now()
    return PageOut.of(found, [TerminalOut.from_view(view, now) for view in found.items])


@router.get(
    "/terminals/{terminal_id}",
    response_model=TerminalOut,
    summary="One counter terminal",
    responses=error_responses(TerminalNotFound),
)
async def get_terminal(request: Request, ctx: OwnerContext, terminal_id: TerminalId) -> TerminalOut:
    return TerminalOut.from_view(await terminals.get_terminal(ctx, terminal_id), clock_of(request).now())


@router.patch(
    "/terminals/{terminal_id}",
    response_model=TerminalOut,
    summary="Rename a counter terminal",
    responses=error_responses(TerminalNotFound),
)
async def rename_terminal(
    request: Request, ctx: OwnerContext, terminal_id: TerminalId, body: TerminalChanges
) -> TerminalOut:
    view = await terminals.rename_terminal(ctx, terminal_id, body)
    return TerminalOut.from_view(view, clock_of(request).now())


@router.post(
    "/terminals/{terminal_id}/pairing-code",
    status_code=201,
    response_model=TerminalPairingOut,
    summary="A new pairing code for the terminal (to pair a replacement device; the old one's session ends then)",
    responses=error_responses(TerminalNotFound),
)
async def new_pairing_code(ctx: OwnerContext, terminal_id: TerminalId) -> TerminalPairingOut:
    return TerminalPairingOut.from_code(await terminals.new_pairing_code(ctx, terminal_id))


@router.post(
    "/terminals/{terminal_id}/unlock",
    response_model=TerminalOut,
    summary="Clear the wrong PINs counted against the terminal and its lock",
    responses=error_responses(TerminalNotFound),
)
async def unlock_terminal(request: Request, ctx: OwnerContext, terminal_id: TerminalId) -> TerminalOut:
    return TerminalOut.from_view(await terminals.unlock_terminal(ctx, terminal_id), clock_of(request).now())


@router.delete(
    "/terminals/{terminal_id}",
    status_code=204,
    summary="Revoke a counter terminal: its session ends at once (its ledger entries keep naming it)",
    responses=error_responses(TerminalNotFound),
)
async def revoke_terminal(ctx: OwnerContext, terminal_id: TerminalId) -> Response:
    await terminals.revoke_terminal(ctx, terminal_id)
    return Response(status_code=204)
