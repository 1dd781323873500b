"""Vendor: the calling vendor's one programme — create, read, change, switch on and off.

The POSTs honour Idempotency-Key (scoped to the vendor), so a terminal may retry them safely.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from loyalty.api.deps import OwnerContext, VendorContext
from loyalty.api.error_responses import error_responses
from loyalty.api.idempotency import IdempotencyKey, respond
from loyalty.api.schemas.programs import ProgramOut
from loyalty.api.unit_of_work import UnitOfWorkRoute
from loyalty.errors import IdempotencyKeyReused, ProgramAlreadyExists, ProgramNotFound
from loyalty.services import programs
from loyalty.services.context import Context
from loyalty.services.programs import ProgramCreate, ProgramUpdate

router = APIRouter(route_class=UnitOfWorkRoute)


@router.post(
    "/program",
    status_code=201,
    response_model=ProgramOut,
    summary="Create the vendor's programme (one per vendor)",
    responses=error_responses(ProgramAlreadyExists, IdempotencyKeyReused),
)
async def create_program(
    body: ProgramCreate, request: Request, ctx: OwnerContext, idempotency_key: IdempotencyKey = None
) -> Response:
    async def produce() -> ProgramOut:
        return ProgramOut.model_validate(await programs.create_program(ctx, body))

    return await respond(request, ctx, key=idempotency_key, status_code=201, produce=produce)


@router.get(
    "/program",
    response_model=ProgramOut,
    summary="Read the vendor's programme",
    responses=error_responses(ProgramNotFound),
)
async def get_program(ctx: VendorContext) -> ProgramOut:
    return ProgramOut.model_validate(await programs.get_program(ctx))


@router.patch(
    "/program",
    response_model=ProgramOut,
    summary="Change some of the programme's settings",
    responses=error_responses(ProgramNotFound),
)
async def update_program(body: ProgramUpdate, ctx: OwnerContext) -> ProgramOut:
    return ProgramOut.model_validate(await programs.update_program(ctx, body))


@router.post(
    "/program/activate",
    response_model=ProgramOut,
    summary="Activate the programme",
    responses=error_responses(ProgramNotFound, IdempotencyKeyReused),
)
async def activate_program(request: Request, ctx: OwnerContext, idempotency_key: IdempotencyKey = None) -> Response:
    return await _set_active(request, ctx, idempotency_key, True)


@router.post(
    "/program/deactivate",
    response_model=ProgramOut,
    summary="Deactivate the programme (cards can no longer collect or redeem)",
    responses=error_responses(ProgramNotFound, IdempotencyKeyReused),
)
async def deactivate_program(request: Request, ctx: OwnerContext, idempotency_key: IdempotencyKey = None) -> Response:
    return await _set_active(request, ctx, idempotency_key, False)


async def _set_active(request: Request, ctx: Context, key: str | None, active: bool) -> Response:
    async def produce() -> ProgramOut:
        program = await programs.get_program(ctx)
        return ProgramOut.model_validate(await programs.set_program_active(ctx, program, active))

    return await respond(request, ctx, key=key, status_code=200, produce=produce)
