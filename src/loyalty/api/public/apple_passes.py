"""The card holder's Apple Wallet pass, downloaded by the card's public token."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response

from loyalty.api.apple_wallet import AppleWallet, pass_response
from loyalty.api.deps import PublicContext
from loyalty.api.error_responses import error_responses
from loyalty.api.unit_of_work import UnitOfWorkRoute
from loyalty.errors import CardNotFound, WalletNotConfigured
from loyalty.services import wallet_passes
from loyalty.wallet.apple.package import MEDIA_TYPE

router = APIRouter(route_class=UnitOfWorkRoute)

CardToken = Annotated[str, Path(min_length=1, max_length=64, description="The card's public token.")]


DOWNLOAD: dict[str, Any] = {
    "summary": "The card's Apple Wallet pass (.pkpass), current as of its last change",
    "response_class": Response,
    "responses": {
        200: {"content": {MEDIA_TYPE: {}}, "description": "The signed pass."},
        304: {"description": "The pass has not changed since If-Modified-Since."},
        **error_responses(CardNotFound, WalletNotConfigured),
    },
}


# HEAD declared on its own: Wallet sends it, and FastAPI answers 405 to HEAD on a GET-only route.
@router.get("/cards/{card_token}/apple-pass", **DOWNLOAD)
@router.head("/cards/{card_token}/apple-pass", **DOWNLOAD)
async def download_apple_pass(
    request: Request, ctx: PublicContext, passes: AppleWallet, card_token: CardToken
) -> Response:
    facts = await wallet_passes.facts_by_card_token(ctx, card_token)
    return pass_response(request, passes, facts, filename=f"{facts.vendor_slug}.pkpass")
