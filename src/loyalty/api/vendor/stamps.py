"""The stamp card at the counter: add a stamp, give the reward."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from loyalty.api.deps import VendorContext
from loyalty.api.error_responses import COUNTER_ERRORS, error_responses
from loyalty.api.errors import request_locale
from loyalty.api.idempotency import IdempotencyKey, respond
from loyalty.api.schemas.operations import RedeemResult, StampResult
from loyalty.api.unit_of_work import UnitOfWorkRoute
from loyalty.errors import DailyStampLimit, InsufficientStamps, StampCooldown, StampsNotEnabled
from loyalty.services import stamps
from loyalty.services.context import Context
from loyalty.services.stamps import StampRequest

router = APIRouter(route_class=UnitOfWorkRoute)


@router.post(
    "/stamp",
    status_code=201,
    response_model=StampResult,
    responses=error_responses(*COUNTER_ERRORS, StampsNotEnabled, StampCooldown, DailyStampLimit),
    summary="Add one stamp to a card",
)
async def add_stamp(
    body: StampRequest, request: Request, ctx: VendorContext, idempotency_key: IdempotencyKey = None
) -> Response:
    """Checks the staff PIN, the cooldown and the daily limit (the vendor's local day) on the locked card.
    429 answers carry `Retry-After`."""
    return await answer_stamp(request, ctx, body, idempotency_key)


async def answer_stamp(request: Request, ctx: Context, body: StampRequest, key: str | None) -> Response:
    """The stamp's answer (201 StampResult, or the stored one for a repeated Idempotency-Key); also the
    paired terminal's (web/terminal_api.py)."""

    async def produce() -> StampResult:
        return StampResult.from_outcome(await stamps.add_stamp(ctx, body), request_locale(request))

    return await respond(request, ctx, key=key, status_code=201, produce=produce)


@router.post(
    "/stamp/redeem",
    status_code=201,
    response_model=RedeemResult,
    responses=error_responses(*COUNTER_ERRORS, StampsNotEnabled, InsufficientStamps),
    summary="Give the stamp card's reward",
)
async def redeem_stamps(
    body: StampRequest, request: Request, ctx: VendorContext, idempotency_key: IdempotencyKey = None
) -> Response:
    """Takes `stamps_target` stamps off the card; 400 `INSUFFICIENT_STAMPS` when it holds fewer."""
    return await answer_stamp_redemption(request, ctx, body, idempotency_key)


async def answer_stamp_redemption(request: Request, ctx: Context, body: StampRequest, key: str | None) -> Response:
    """The stamp reward's answer (201 RedeemResult); also the paired terminal's."""

    async def produce() -> RedeemResult:
        return RedeemResult.from_outcome(await stamps.redeem_stamps(ctx, body), request_locale(request))

    return await respond(request, ctx, key=key, status_code=201, produce=produce)
