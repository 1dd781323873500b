"""The logos vendors uploaded on the dashboard (`services/logos.py`), public like the other wallet pictures
(`api/public/wallet_images.py`): Google Wallet fetches the programme logo from the class's URL, the card page
and the dashboard show the logo as kept. A URL names the logo's SHA-256, so what it serves never changes
(immutable); a replaced logo's URL is gone (404) once no programme has it.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Path, Response

from loyalty.api.deps import PublicContext
from loyalty.api.error_responses import error_responses
from loyalty.api.public.wallet_images import IMMUTABLE, PNG, PaletteSlug, palette_of_slug
from loyalty.api.unit_of_work import UnitOfWorkRoute
from loyalty.errors import ProgramNotFound, ValidationFailed
from loyalty.services import logos
from loyalty.services.context import Context
from loyalty.wallet import images

router = APIRouter(route_class=UnitOfWorkRoute)

Digest = Annotated[str, Path(pattern="^[0-9a-f]{64}$", description="The logo's SHA-256, 64 hex digits.")]


@router.get(
    "/wallet/img/logos/{digest}/logo.png",
    response_class=Response,
    summary="A programme's uploaded logo, as re-encoded (PNG, at most 660×660)",
    responses={**PNG, **error_responses(ProgramNotFound)},
)
async def uploaded_logo(ctx: PublicContext, digest: Digest) -> Response:
    return Response(await _kept(ctx, digest), media_type="image/png", headers={"Cache-Control": IMMUTABLE})


@router.get(
    "/wallet/img/logos/{digest}/{palette}.png",
    response_class=Response,
    summary="A programme's uploaded logo on the card's colour, 660×660 (Google Wallet's programme logo)",
    responses={**PNG, **error_responses(ProgramNotFound, ValidationFailed)},
)
async def uploaded_program_logo(ctx: PublicContext, digest: Digest, palette: PaletteSlug) -> Response:
    colours = palette_of_slug(palette)
    kept = await _kept(ctx, digest)
    picture = await asyncio.to_thread(images.uploaded_program_logo, kept, colours)  # drawing is CPU work
    return Response(picture, media_type="image/png", headers={"Cache-Control": IMMUTABLE})


async def _kept(ctx: Context, digest: str) -> bytes:
    """The PNG of `digest`. Raises ProgramNotFound (404) when no programme has this logo (any more)."""
    png = await logos.logo_by_digest(ctx, digest)
    if png is None:
        raise ProgramNotFound(digest)
    return png
