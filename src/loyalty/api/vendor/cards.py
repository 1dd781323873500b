"""The vendor's cards: enrolment at the counter, search, look-up by QR or number, history, (de)activation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from loyalty.api.deps import OwnerContext, VendorContext
from loyalty.api.error_responses import error_responses
from loyalty.api.idempotency import IdempotencyKey, respond
from loyalty.api.schemas.cards import CardOut
from loyalty.api.schemas.common import PageOut, PageParams
from loyalty.api.schemas.transactions import TransactionOut
from loyalty.api.unit_of_work import UnitOfWorkRoute
from loyalty.errors import (
    CardAlreadyExists,
    CardNotFound,
    CustomerErased,
    IdempotencyKeyReused,
    ProgramInactive,
    ProgramNotFound,
    ValidationFailed,
)
from loyalty.models.base import MAX_ID
from loyalty.services import cards, programs, transactions
from loyalty.services.cards import Enrolment
from loyalty.services.context import Context

router = APIRouter(route_class=UnitOfWorkRoute)

CardId = Annotated[int, Path(ge=1, le=MAX_ID, description="The card's id.")]
PageQuery = Annotated[PageParams, Depends()]  # the page the query string asks for


@router.post(
    "/cards",
    status_code=201,
    response_model=CardOut,
    summary="Enrol a customer at the counter",
    responses=error_responses(ProgramNotFound, ProgramInactive, CardAlreadyExists, IdempotencyKeyReused),
)
async def enrol(
    request: Request, ctx: VendorContext, body: Enrolment, idempotency_key: IdempotencyKey = None
) -> Response:
    async def produce() -> CardOut:
        program = await programs.get_active_program(ctx)
        view = await cards.enrol(ctx, program, body)
        return CardOut.from_view(view, program)

    return await respond(request, ctx, key=idempotency_key, status_code=201, produce=produce)


@router.get(
    "/cards",
    response_model=PageOut[CardOut],
    summary="Search the vendor's cards by card number, e-mail or name",
    responses=error_responses(ProgramNotFound),
)
async def list_cards(
    ctx: VendorContext,
    page: PageQuery,
    search: Annotated[str | None, Query(max_length=200, description="Part of a card number, e-mail or name.")] = None,
) -> PageOut[CardOut]:
    program = await programs.get_program(ctx)
    found = await cards.list_cards(ctx, search=search, limit=page.limit, offset=page.offset)
    return PageOut.of(found, [CardOut.from_view(view, program) for view in found.items])


@router.get(
    "/cards/lookup",
    response_model=CardOut,
    summary="Find a card by its scanned QR code, its typed number or its customer's exact e-mail (exactly one)",
    responses=error_responses(ProgramNotFound, CardNotFound),
)
async def lookup(
    ctx: VendorContext,
    qr_code: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    card_number: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
    email: Annotated[str | None, Query(min_length=3, max_length=320)] = None,
) -> CardOut:
    """The e-mail is compared whole (trimmed, case-insensitive), never in part: for a customer who left
    the phone at home (PAGES.md, "Staff terminal")."""
    given = {"qr_code": qr_code, "card_number": card_number, "email": email}
    if sum(value is not None for value in given.values()) != 1:
        message = "give exactly one of qr_code, card_number, email"
        raise ValidationFailed([{"field": field, "message": message} for field in given])
    program = await programs.get_program(ctx)
    view = await cards.look_up(ctx, cards.CardLookup(qr_code=qr_code, card_number=card_number, email=email))
    return CardOut.from_view(view, program)


@router.get(
    "/cards/{card_id}",
    response_model=CardOut,
    summary="One card with its customer and balances",
    responses=error_responses(ProgramNotFound, CardNotFound),
)
async def get_card(ctx: VendorContext, card_id: CardId) -> CardOut:
    program = await programs.get_program(ctx)
    view = await cards.find_card(ctx, cards.CardRef(card_id=card_id))
    return CardOut.from_view(view, program)


@router.get(
    "/cards/{card_id}/transactions",
    response_model=PageOut[TransactionOut],
    summary="A card's ledger, newest first",
    responses=error_responses(CardNotFound),
)
async def card_transactions(ctx: VendorContext, card_id: CardId, page: PageQuery) -> PageOut[TransactionOut]:
    found = await transactions.card_transactions(ctx, card_id, limit=page.limit, offset=page.offset)
    return PageOut.of(found, [TransactionOut.from_view(view) for view in found.items])


async def _set_active(
    request: Request, ctx: Context, card_id: int, active: bool, idempotency_key: str | None
) -> Response:
    async def produce() -> CardOut:
        program = await programs.get_program(ctx)
        view = await cards.set_card_active(ctx, card_id, active)
        return CardOut.from_view(view, program)

    return await respond(request, ctx, key=idempotency_key, status_code=200, produce=produce)


@router.post(
    "/cards/{card_id}/deactivate",
    response_model=CardOut,
    summary="Deactivate a card (no stamps, points or redemptions until reactivated)",
    responses=error_responses(ProgramNotFound, CardNotFound, CustomerErased, IdempotencyKeyReused),
)
async def deactivate(
    request: Request, ctx: OwnerContext, card_id: CardId, idempotency_key: IdempotencyKey = None
) -> Response:
    return await _set_active(request, ctx, card_id, False, idempotency_key)


@router.post(
    "/cards/{card_id}/reactivate",
    response_model=CardOut,
    summary="Reactivate a deactivated card",
    responses=error_responses(ProgramNotFound, CardNotFound, CustomerErased, IdempotencyKeyReused),
)
async def reactivate(
    request: Request, ctx: OwnerContext, card_id: CardId, idempotency_key: IdempotencyKey = None
) -> Response:
    return await _set_active(request, ctx, card_id, True, idempotency_key)
