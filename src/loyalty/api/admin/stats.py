"""Admin: totals across the whole platform."""

from __future__ import annotations

from fastapi import APIRouter

from loyalty.api.deps import AdminContext
from loyalty.api.schemas.stats import PlatformStatsOut
from loyalty.api.unit_of_work import UnitOfWorkRoute
from loyalty.services import stats

router = APIRouter(route_class=UnitOfWorkRoute)


@router.get(
    "/stats",
    response_model=PlatformStatsOut,
    summary="Platform totals: vendors, programmes, cards, ledger entries, stamps and points issued",
)
async def platform_stats(ctx: AdminContext) -> PlatformStatsOut:
    return PlatformStatsOut.model_validate(await stats.platform_stats(ctx))
