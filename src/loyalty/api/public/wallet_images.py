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
# One spelling per number: an immutable URL has no aliases (an int parameter would also take "+7", "0_7").
DECIMAL = "^(0|[1-9][0-9]{0,6})$"
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
    target: Annotated[str, Path(pattern=DECIMAL, description="Stamps for a reward (1 to 1000).")],
    count: Annotated[str, Path(pattern=DECIMAL, description="Stamps collected (0 to `target`).")],
    palette: PaletteSlug,
) -> Response:
    stamps_for_reward = _number("target", target, 1, MOST_STAMPS)
    collected = _number("count", count, 0, stamps_for_reward)
    picture = images.hero(palette_of_slug(palette), collected, stamps_for_reward)
    return Response(picture, media_type="image/png", headers={"Cache-Control": IMMUTABLE})


@router.get(
    "/wallet/img/logo/{codepoint}/{palette}.png",
    response_class=Response,
    summary="A programme's logo: the vendor's initial (a Unicode code point), 660×660 (Google Wallet)",
    responses={**PNG, **error_responses(ValidationFailed)},
)
def program_logo(
    codepoint: Annotated[str, Path(pattern=DECIMAL, description="The initial's Unicode code point, in decimal.")],
    palette: PaletteSlug,
) -> Response:
    character = _number("codepoint", codepoint, 33, 0x10FFFF)
    if 0xD800 <= character <= 0xDFFF:
        raise ValidationFailed([{"field": "codepoint", "message": "a surrogate is not a character"}])
    picture = images.program_logo(palette_of_slug(palette), chr(character))
    return Response(picture, media_type="image/png", headers={"Cache-Control": IMMUTABLE})


def _number(field: str, text: str, lowest: int, highest: int) -> int:
    """A path's decimal number between `lowest` and `highest`. Raises ValidationFailed (422) otherwise."""
    value = int(text)
    if not lowest <= value <= highest:
        raise ValidationFailed([{"field": field, "message": f"must be between {lowest} and {highest}"}])
    return value


def palette_of_slug(slug: str) -> Palette:
    """The palette of a URL the wallets were given: its text colour is the one `readable_text` picks for
    its background, so the URLs that can be drawn are as few as the backgrounds."""
    values = bytes.fromhex(slug)
    background = (values[0], values[1], values[2])
    palette = Palette(background, (values[3], values[4], values[5]))
    if palette.foreground != readable_text(background):
        raise ValidationFailed([{"field": "palette", "message": "the text colour must be the readable one"}])
    return palette
