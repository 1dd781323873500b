"""A card's public page, opened by its unguessable token: balances, programme, recent activity."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from loyalty.api.deps import PublicContext
from loyalty.api.error_responses import error_responses
from loyalty.api.schemas.public import PublicCardOut
from loyalty.api.unit_of_work import UnitOfWorkRoute
from loyalty.errors import CardNotFound, ProgramNotFound
from loyalty.services import cards, programs, transactions

router = APIRouter(route_class=UnitOfWorkRoute)

RECENT_TRANSACTIONS = 10
CardToken = Annotated[str, Path(min_length=1, max_length=64, description="The card's public token.")]


@router.get(
    "/cards/{card_token}",
    response_model=PublicCardOut,
    summary="A card's public page: balances, programme, rewards and the last 10 transactions",
    responses=error_responses(CardNotFound, ProgramNotFound),
)
async def get_card(ctx: PublicContext, card_token: CardToken) -> PublicCardOut:
    card = await cards.find_card_by_token(ctx, card_token)
    program, vendor_name = await programs.get_program_by_id(ctx, card.program_id)
    recent = await transactions.recent_for_card(ctx, card.id, card.vendor_id, RECENT_TRANSACTIONS)
    return PublicCardOut.build(card, program, vendor_name, recent)
