"""Wallets as the vendor sees them: a card's pass (the devices that hold it, its last push, its version)
and the programme's adoption and push health."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from loyalty.api.deps import VendorContext
from loyalty.api.error_responses import error_responses
from loyalty.api.schemas.wallet import CardWalletOut, WalletStatsOut
from loyalty.api.unit_of_work import UnitOfWorkRoute
from loyalty.errors import CardNotFound
from loyalty.models.base import MAX_ID
from loyalty.services import google_wallet, outbox, wallet_passes

router = APIRouter(route_class=UnitOfWorkRoute)

CardId = Annotated[int, Path(ge=1, le=MAX_ID, description="The card's id.")]


@router.get(
    "/cards/{card_id}/wallet",
    response_model=CardWalletOut,
    summary="A card's wallet passes: Apple devices and last push, the Google object, the pass version",
    responses=error_responses(CardNotFound),
)
async def get_card_wallet(ctx: VendorContext, card_id: CardId) -> CardWalletOut:
    wallet = await wallet_passes.card_wallet(ctx, card_id)
    return CardWalletOut.from_wallet(wallet, await google_wallet.card_google_object(ctx, card_id))


@router.get(
    "/wallet/stats",
    response_model=WalletStatsOut,
    summary="Wallet adoption and push health: cards in Apple Wallet, updates sent and failed in 24 h",
)
async def get_wallet_stats(ctx: VendorContext) -> WalletStatsOut:
    return WalletStatsOut.from_stats(await outbox.vendor_stats(ctx))
