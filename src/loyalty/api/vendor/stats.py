"""Vendor: the dashboard figures of the calling vendor's programme."""

from __future__ import annotations

from fastapi import APIRouter

from loyalty.api.deps import OwnerContext
from loyalty.api.error_responses import error_responses
from loyalty.api.schemas.stats import ProgramStatsOut
from loyalty.api.unit_of_work import UnitOfWorkRoute
from loyalty.errors import ProgramNotFound, VendorNotFound
from loyalty.services import programs, stats, vendors

router = APIRouter(route_class=UnitOfWorkRoute)


@router.get(
    "/stats",
    response_model=ProgramStatsOut,
    summary="The programme's statistics (days are the vendor's local days)",
    responses=error_responses(ProgramNotFound, VendorNotFound),
)
async def program_stats(ctx: OwnerContext) -> ProgramStatsOut:
    # Not active_program_and_timezone: that refuses an inactive programme, whose history still counts.
    program = await programs.get_program(ctx)
    vendor = await vendors.get_vendor(ctx, ctx.vendor_id)
    return ProgramStatsOut.model_validate(await stats.program_stats(ctx, program, vendor.timezone))
