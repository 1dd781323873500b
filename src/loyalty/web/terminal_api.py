"""The paired terminal's JSON routes (PAGES.md, "Routes"): `/terminal/api/lookup`, `/stamp`,
`/stamp/redeem`, `/points/earn`, `/points/redeem`, with the bodies, answers, Idempotency-Key and error
envelope of the vendor API's routes of the same name, the session cookie instead of an API key, and the
session's CSRF token in `X-CSRF-Token`. The counter page itself posts forms (`web/terminal.py`); these
serve a counter app that keeps its own screen. Each answer renews the session cookie's Max-Age, as the page
does: the session slides with use, so a counter app that never draws the page keeps its cookie too.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response
from pydantic import BaseModel

from loyalty.api.idempotency import IdempotencyKey
from loyalty.api.schemas.cards import CardOut
from loyalty.api.schemas.operations import PointsResult, RedeemResult, StampResult
from loyalty.api.unit_of_work import UnitOfWorkRoute
from loyalty.api.vendor.points import answer_earn, answer_points_redemption
from loyalty.api.vendor.stamps import answer_stamp, answer_stamp_redemption
from loyalty.services import cards, programs
from loyalty.services.cards import CardLookup
from loyalty.services.context import Context
from loyalty.services.points import EarnRequest, PointsRedeemRequest
from loyalty.services.stamps import StampRequest
from loyalty.web.sessions import CSRF_HEADER, check_csrf, renew_session_cookie, terminal_caller, terminal_context

router = APIRouter(prefix="/terminal/api", route_class=UnitOfWorkRoute, include_in_schema=False)


async def counter_context(request: Request, csrf: Annotated[str | None, Header(alias=CSRF_HEADER)] = None) -> Context:
    """The paired terminal's context, once its CSRF token and origin are checked. Raises TerminalNotPaired
    (401), CsrfTokenInvalid (403), Forbidden (403: the vendor is switched off)."""
    holder = await terminal_caller(request)
    check_csrf(request, holder, csrf)
    return await terminal_context(request, holder)


CounterContext = Annotated[Context, Depends(counter_context)]


def _renewed(request: Request, answer: Response) -> Response:
    renew_session_cookie(request, answer)
    return answer


@router.post("/lookup", response_model=CardOut)
async def lookup(body: CardLookup, request: Request, response: Response, ctx: CounterContext) -> BaseModel:
    program = await programs.get_program(ctx)
    found = CardOut.from_view(await cards.look_up(ctx, body), program)
    renew_session_cookie(request, response)  # FastAPI copies this response's headers onto the answer
    return found


@router.post("/stamp", status_code=201, response_model=StampResult)
async def add_stamp(
    body: StampRequest, request: Request, ctx: CounterContext, idempotency_key: IdempotencyKey = None
) -> Response:
    return _renewed(request, await answer_stamp(request, ctx, body, idempotency_key))


@router.post("/stamp/redeem", status_code=201, response_model=RedeemResult)
async def redeem_stamps(
    body: StampRequest, request: Request, ctx: CounterContext, idempotency_key: IdempotencyKey = None
) -> Response:
    return _renewed(request, await answer_stamp_redemption(request, ctx, body, idempotency_key))


@router.post("/points/earn", status_code=201, response_model=PointsResult)
async def earn_points(
    body: EarnRequest, request: Request, ctx: CounterContext, idempotency_key: IdempotencyKey = None
) -> Response:
    return _renewed(request, await answer_earn(request, ctx, body, idempotency_key))


@router.post("/points/redeem", status_code=201, response_model=PointsResult)
async def redeem_points(
    body: PointsRedeemRequest, request: Request, ctx: CounterContext, idempotency_key: IdempotencyKey = None
) -> Response:
    return _renewed(request, await answer_points_redemption(request, ctx, body, idempotency_key))
