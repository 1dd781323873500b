"""Staff PINs of the vendor's programme: list, create, change, delete, unlock."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from loyalty.api.deps import OwnerContext, VendorContext, clock_of
from loyalty.api.error_responses import error_responses
from loyalty.api.idempotency import IdempotencyKey, respond
from loyalty.api.schemas.common import PageOut, PageParams
from loyalty.api.schemas.pins import StaffPinOut, TerminalLockOut
from loyalty.api.unit_of_work import UnitOfWorkRoute
from loyalty.errors import IdempotencyKeyReused, ProgramNotFound, StaffPinAlreadyExists, StaffPinNotFound
from loyalty.models.base import MAX_ID
from loyalty.services import pins, programs
from loyalty.services.pins import NewPin, PinChanges

router = APIRouter(route_class=UnitOfWorkRoute)

PinId = Annotated[int, Path(ge=1, le=MAX_ID, description="The staff PIN's id.")]


@router.get(
    "/pins",
    response_model=PageOut[StaffPinOut],
    summary="List the programme's staff PINs",
    responses=error_responses(ProgramNotFound),
)
async def list_pins(
    request: Request, ctx: VendorContext, page: Annotated[PageParams, Depends()]
) -> PageOut[StaffPinOut]:
    program = await programs.get_program(ctx)
    found = await pins.list_pins(ctx, program, limit=page.limit, offset=page.offset)
    now = clock_of(request).now()
    return PageOut.of(found, [StaffPinOut.from_pin(pin, now) for pin in found.items])


@router.get(
    "/pins/locks",
    response_model=list[TerminalLockOut],
    summary="Terminals with wrong PINs counted against them, and their locks",
    description="A terminal that sent wrong PINs without `staff_pin_id` is locked as a whole (423 with "
    '`lock: "terminal"`) while every PIN shows unlocked in `GET /pins`: this lists those terminals. '
    "`POST /pins/{pin_id}/unlock` clears them.",
    responses=error_responses(ProgramNotFound),
)
async def list_terminal_locks(request: Request, ctx: OwnerContext) -> list[TerminalLockOut]:
    program = await programs.get_program(ctx)
    now = clock_of(request).now()
    return [TerminalLockOut.from_count(count, now) for count in await pins.terminal_counts(ctx, program)]


@router.post(
    "/pins",
    status_code=201,
    response_model=StaffPinOut,
    summary="Create a staff PIN (4–8 digits, unique within the programme)",
    responses=error_responses(ProgramNotFound, StaffPinAlreadyExists, IdempotencyKeyReused),
)
async def create_pin(
    request: Request, ctx: OwnerContext, body: NewPin, idempotency_key: IdempotencyKey = None
) -> Response:
    async def produce() -> StaffPinOut:
        program = await programs.get_program(ctx)
        pin = await pins.create_pin(ctx, program, body)
        return StaffPinOut.from_pin(pin, clock_of(request).now())

    return await respond(request, ctx, key=idempotency_key, status_code=201, produce=produce)


@router.patch(
    "/pins/{pin_id}",
    response_model=StaffPinOut,
    summary="Rename, re-key, enable or disable a staff PIN",
    responses=error_responses(ProgramNotFound, StaffPinNotFound, StaffPinAlreadyExists),
)
async def update_pin(request: Request, ctx: OwnerContext, pin_id: PinId, body: PinChanges) -> StaffPinOut:
    program = await programs.get_program(ctx)
    pin = await pins.update_pin(ctx, program, pin_id, body)
    return StaffPinOut.from_pin(pin, clock_of(request).now())


@router.delete(
    "/pins/{pin_id}",
    status_code=204,
    summary="Delete a staff PIN (the ledger keeps pointing at it; its digits are freed)",
    responses=error_responses(ProgramNotFound, StaffPinNotFound),
)
async def delete_pin(ctx: OwnerContext, pin_id: PinId) -> Response:
    program = await programs.get_program(ctx)
    await pins.delete_pin(ctx, program, pin_id)
    return Response(status_code=204)


@router.post(
    "/pins/{pin_id}/unlock",
    response_model=StaffPinOut,
    summary="Clear a PIN's failed attempts and lockout (and the programme's terminal lockouts)",
    responses=error_responses(ProgramNotFound, StaffPinNotFound, IdempotencyKeyReused),
)
async def unlock_pin(
    request: Request, ctx: OwnerContext, pin_id: PinId, idempotency_key: IdempotencyKey = None
) -> Response:
    async def produce() -> StaffPinOut:
        program = await programs.get_program(ctx)
        pin = await pins.unlock_pin(ctx, program, pin_id)
        return StaffPinOut.from_pin(pin, clock_of(request).now())

    return await respond(request, ctx, key=idempotency_key, status_code=200, produce=produce)
