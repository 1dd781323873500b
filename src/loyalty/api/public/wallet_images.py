"""The public pictures Google Wallet shows (WALLET.md, "Google Wallet"): the stamp row of a card at a count
(its hero image) and the programme logo. Google fetches them from our public URL; they carry no
personal data, only the programme's look and a count, so one URL serves every card at that count and
never changes: they are cached as immutable. Drawing is CPU work: the handlers are plain functions, which
FastAPI runs in its thread pool, so a burst of pictures never stalls the event loop.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from loyalty.api.error_responses import error_responses
from loyalty.errors import ValidationFailed
from loyalty.wallet import images
from loyalty.wallet.colors import readable_text
from loyalty.wallet.images import Palette

router = APIRouter()

IMMUTABLE = "public, max-age=31536000, immutable"
PNG: dict[int | str, dict[str, Any]] = {200: {"content": {"image/png": {}}, "description": "The picture (PNG)."}}
MOST_STAMPS = 1000  # the largest stamps_target a programme may have (services/programs.py)

PaletteSlug = Annotated[
    str,
    Path(
        pattern="^[0-9a-f]{12}$",
        description="Background and text colour, six hex digits each (`1f6febffffff`).",
    ),
]


@router.get(
    "/wallet/img/stamps/{target}/{count}/{palette}.png",
    response_class=Response,
    summary="A stamp card's picture: `count` of `target` stamps, 1032×336 (Google Wallet's hero image)",
    responses={**PNG, **error_responses(ValidationFailed)},
)
def stamp_picture(
    target: Annotated[int, Path(ge=1, le=MOST_STAMPS, description="Stamps for a reward.")],
    count: Annotated[int, Path(ge=0, le=MOST_STAMPS, description="Stamps collected (at most `target`).")],
    palette: PaletteSlug,
) -> Response:
    if count > target:
        raise ValidationFailed([{"field": "count", "message": "count may not exceed target"}])
    picture = images.hero(_palette(palette), count, target)
    return Response(picture, media_type="image/png", headers={"Cache-Control": IMMUTABLE})


@router.get(
    "/wallet/img/logo/{codepoint}/{palette}.png",
    response_class=Response,
    summary="A programme's logo: the vendor's initial (a Unicode code point), 660×660 (Google Wallet)",
    responses={**PNG, **error_responses(ValidationFailed)},
)
def program_logo(
    codepoint: Annotated[int, Path(ge=33, le=0x10FFFF, description="The initial's Unicode code point.")],
    palette: PaletteSlug,
) -> Response:
    if 0xD800 <= codepoint <= 0xDFFF:
        raise ValidationFailed([{"field": "codepoint", "message": "a surrogate is not a character"}])
    picture = images.program_logo(_palette(palette), chr(codepoint))
    return Response(picture, media_type="image/png", headers={"Cache-Control": IMMUTABLE})


def _palette(slug: str) -> Palette:
    """The palette of a URL the wallets were given: its text colour is the one `readable_text` picks for
    its background, so the URLs that can be drawn are as few as the backgrounds."""
    values = bytes.fromhex(slug)
    background = (values[0], values[1], values[2])
    palette = Palette(background, (values[3], values[4], values[5]))
    if palette.foreground != readable_text(background):
        raise ValidationFailed([{"field": "palette", "message": "the text colour must be the readable one"}])
    return palette
