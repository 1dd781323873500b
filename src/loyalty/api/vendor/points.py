"""Points at the counter: earn them on a purchase, spend them on a catalogue reward."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from loyalty.api.deps import VendorContext
from loyalty.api.error_responses import COUNTER_ERRORS, error_responses
from loyalty.api.errors import request_locale
from loyalty.api.idempotency import IdempotencyKey, respond
from loyalty.api.schemas.operations import PointsResult
from loyalty.api.unit_of_work import UnitOfWorkRoute
from loyalty.errors import InsufficientPoints, InvalidReward, OrderAlreadyEarned, PointsNotEnabled
from loyalty.services import points
from loyalty.services.context import Context
from loyalty.services.points import EarnRequest, PointsRedeemRequest

router = APIRouter(route_class=UnitOfWorkRoute)


@router.post(
    "/points/earn",
    status_code=201,
    response_model=PointsResult,
    responses=error_responses(*COUNTER_ERRORS, PointsNotEnabled, OrderAlreadyEarned),
    summary="Credit points for a purchase",
)
async def earn_points(
    body: EarnRequest, request: Request, ctx: VendorContext, idempotency_key: IdempotencyKey = None
) -> Response:
    """Points = floor(purchase_amount_cents × points_per_euro / 100)."""
    return await answer_earn(request, ctx, body, idempotency_key)


async def answer_earn(request: Request, ctx: Context, body: EarnRequest, key: str | None) -> Response:
    """The earn's answer (201 PointsResult, or the stored one for a repeated Idempotency-Key); also the
    paired terminal's (web/terminal_api.py)."""

    async def produce() -> PointsResult:
        return PointsResult.from_outcome(await points.earn_points(ctx, body), request_locale(request))

    return await respond(request, ctx, key=key, status_code=201, produce=produce)


@router.post(
    "/points/redeem",
    status_code=201,
    response_model=PointsResult,
    responses=error_responses(*COUNTER_ERRORS, PointsNotEnabled, InvalidReward, InsufficientPoints),
    summary="Spend points on a catalogue reward",
)
async def redeem_points(
    body: PointsRedeemRequest,
    request: Request,
    ctx: VendorContext,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """400 `INVALID_REWARD` for an unknown or inactive reward, `INSUFFICIENT_POINTS` when the balance is short."""
    return await answer_points_redemption(request, ctx, body, idempotency_key)


async def answer_points_redemption(
    request: Request, ctx: Context, body: PointsRedeemRequest, key: str | None
) -> Response:
    """The catalogue reward's answer (201 PointsResult); also the paired terminal's."""

    async def produce() -> PointsResult:
        return PointsResult.from_outcome(await points.redeem_points(ctx, body), request_locale(request))

    return await respond(request, ctx, key=key, status_code=201, produce=produce)
