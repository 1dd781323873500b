"""A card's wallet pass, as its vendor sees it: the devices that hold it and its version."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from loyalty.api.deps import VendorContext
from loyalty.api.error_responses import error_responses
from loyalty.api.schemas.wallet import CardWalletOut
from loyalty.api.unit_of_work import UnitOfWorkRoute
from loyalty.errors import CardNotFound
from loyalty.models.base import MAX_ID
from loyalty.services import wallet_passes

router = APIRouter(route_class=UnitOfWorkRoute)

CardId = Annotated[int, Path(ge=1, le=MAX_ID, description="The card's id.")]


@router.get(
    "/cards/{card_id}/wallet",
    response_model=CardWalletOut,
    summary="A card's wallet pass: registered devices, last push, pass version",
    responses=error_responses(CardNotFound),
)
async def get_card_wallet(ctx: VendorContext, card_id: CardId) -> CardWalletOut:
    return CardWalletOut.from_wallet(await wallet_passes.card_wallet(ctx, card_id))
