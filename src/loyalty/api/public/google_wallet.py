"""The card holder's "Save to Google Wallet" link, asked for by the card's public token (WALLET.md, "Routes")."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from loyalty.api.deps import PublicContext
from loyalty.api.error_responses import error_responses
from loyalty.api.schemas.wallet import GoogleSaveLinkOut
from loyalty.api.unit_of_work import UnitOfWorkRoute
from loyalty.errors import CardNotFound, WalletNotConfigured
from loyalty.services import google_wallet
from loyalty.wallet.google.issuer import GoogleIssuer

router = APIRouter(route_class=UnitOfWorkRoute)

CardToken = Annotated[str, Path(min_length=1, max_length=64, description="The card's public token.")]


def google_issuer(request: Request) -> GoogleIssuer:
    """The platform's Google Wallet issuer, loaded at start-up. Raises WalletNotConfigured (503) without one."""
    issuer: GoogleIssuer | None = getattr(request.app.state, "google_issuer", None)
    if issuer is None:
        raise WalletNotConfigured(wallet="google")
    return issuer


@router.get(
    "/cards/{card_token}/google-wallet",
    response_model=GoogleSaveLinkOut,
    summary="The card's Save to Google Wallet link (a signed JWT carrying the card's object)",
    responses=error_responses(CardNotFound, WalletNotConfigured),
)
async def get_google_wallet_link(
    response: Response,
    ctx: PublicContext,
    issuer: Annotated[GoogleIssuer, Depends(google_issuer)],
    card_token: CardToken,
) -> GoogleSaveLinkOut:
    response.headers["Cache-Control"] = "no-store"  # the link carries the holder's name and card number
    return GoogleSaveLinkOut(save_url=await google_wallet.save_url(ctx, issuer, card_token))
