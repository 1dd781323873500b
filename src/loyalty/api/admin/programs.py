"""Admin: every vendor's programme — list, read, statistics, switch on and off."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from loyalty.api.deps import AdminContext
from loyalty.api.error_responses import error_responses
from loyalty.api.schemas.common import PageOut, PageParams
from loyalty.api.schemas.programs import AdminProgramOut
from loyalty.api.schemas.stats import ProgramStatsOut
from loyalty.api.unit_of_work import UnitOfWorkRoute
from loyalty.errors import ProgramNotFound, VendorNotFound
from loyalty.models import ProgramType
from loyalty.models.base import MAX_ID  # a larger id cannot exist, and must not reach the database
from loyalty.services import programs, stats, vendors
from loyalty.services.context import Context

router = APIRouter(route_class=UnitOfWorkRoute)

ProgramId = Annotated[int, Path(ge=1, le=MAX_ID, description="The programme's id.")]


@router.get(
    "/programs",
    response_model=PageOut[AdminProgramOut],
    summary="List programmes of all vendors",
)
async def list_programs(
    ctx: AdminContext,
    page: Annotated[PageParams, Query()],
    is_active: bool | None = None,
    program_type: ProgramType | None = None,
    search: Annotated[
        str | None, Query(max_length=200, description="Part of the programme's or vendor's name.")
    ] = None,
) -> PageOut[AdminProgramOut]:
    found = await programs.list_programs(
        ctx, is_active=is_active, program_type=program_type, search=search, limit=page.limit, offset=page.offset
    )
    return PageOut[AdminProgramOut].of(
        found, [AdminProgramOut.of(program, vendor_name) for program, vendor_name in found.items]
    )


@router.get(
    "/programs/{program_id}",
    response_model=AdminProgramOut,
    summary="Read a programme",
    responses=error_responses(ProgramNotFound),
)
async def get_program(program_id: ProgramId, ctx: AdminContext) -> AdminProgramOut:
    return AdminProgramOut.of(*await programs.get_program_by_id(ctx, program_id))


@router.get(
    "/programs/{program_id}/stats",
    response_model=ProgramStatsOut,
    summary="A programme's statistics (days are the vendor's local days)",
    responses=error_responses(ProgramNotFound, VendorNotFound),
)
async def program_stats(program_id: ProgramId, ctx: AdminContext) -> ProgramStatsOut:
    program, _ = await programs.get_program_by_id(ctx, program_id)
    vendor = await vendors.get_vendor(ctx, program.vendor_id)
    return ProgramStatsOut.model_validate(await stats.program_stats(ctx, program, vendor.timezone))


@router.post(
    "/programs/{program_id}/activate",
    response_model=AdminProgramOut,
    summary="Activate a programme",
    responses=error_responses(ProgramNotFound),
)
async def activate_program(program_id: ProgramId, ctx: AdminContext) -> AdminProgramOut:
    return await _set_active(ctx, program_id, True)


@router.post(
    "/programs/{program_id}/deactivate",
    response_model=AdminProgramOut,
    summary="Deactivate a programme (its cards can no longer collect or redeem)",
    responses=error_responses(ProgramNotFound),
)
async def deactivate_program(program_id: ProgramId, ctx: AdminContext) -> AdminProgramOut:
    return await _set_active(ctx, program_id, False)


async def _set_active(ctx: Context, program_id: int, active: bool) -> AdminProgramOut:
    program, vendor_name = await programs.get_program_by_id(ctx, program_id)
    return AdminProgramOut.of(await programs.set_program_active(ctx, program, active), vendor_name)
