"""A programme's logo, uploaded on the dashboard: checked, re-encoded with Pillow, kept in `program_logos`.

What a vendor uploads is never kept or served as sent: it is opened by Pillow only as PNG, JPEG, WebP or GIF
(its first frame), its header's size checked before a pixel is decoded (a 20,000×20,000 "decompression bomb"
of a few kilobytes is refused unread), verified, decoded in full (a truncated file fails here), turned upright
(a phone's EXIF orientation), trimmed of fully transparent borders, scaled to fit 660×660 and saved as a
fresh PNG. That PNG is what the wallets' pictures are drawn from (`wallet/images.py`: Apple's `logo.png` at
1x/2x/3x within 160×50 points, Google's 660×660 programme logo), and what `/wallet/img/logos/{digest}/logo.png`
serves, an immutable URL since a new logo has a new SHA-256. Saving or removing the logo repaints every pass
through the outbox (`programs.repaint_passes`), as other changes to what passes show do.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import warnings
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import select

from loyalty.i18n import N_, Message
from loyalty.models import LoyaltyProgram, ProgramLogo
from loyalty.services import programs
from loyalty.services.context import Context
from loyalty.services.programs import ProgramUpdate

MOST_LOGO_BYTES = 2 * 1024 * 1024  # a logo is a few hundred kilobytes; a phone photo is refused with a message
UPLOAD_BODY_BYTES = 6 * 1024 * 1024  # the upload's body limit (api/limits.py): a photo up to this gets the page
MOST_SIDE = 5000  # pixels a side, and
MOST_PIXELS = 5000 * 5000  # pixels in all: a logo needs far fewer, and decoding more costs memory and time
STORED_SIDE = 660  # Google's programme logo is 660×660; Apple's @3x logo 480×150 at most
FORMATS = ("PNG", "JPEG", "WEBP", "GIF")
PUBLIC_PATH = "/wallet/img/logos/{digest}/logo.png"

NO_FILE = N_("Choose a picture file to upload.")
TOO_LARGE = N_("This file is larger than 2 MB: save the logo smaller, then upload it again.")
NOT_A_PICTURE = N_("This file is not a picture we can read: upload a PNG, JPEG, WebP or GIF file.")
DAMAGED = N_("This picture is damaged or incomplete: save it again, then upload the new file.")
TOO_MANY_PIXELS = N_("This picture has too many pixels: a logo may be at most 5,000 × 5,000 pixels.")
EMPTY_PICTURE = N_("This picture is fully transparent: there is nothing to show.")


class LogoRefused(Exception):
    """An upload that cannot become a logo; `message` (a msgid) says why, for the person who sent it."""

    def __init__(self, message: Message) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Logo:
    """A logo as we keep it: a PNG (RGBA, at most 660×660 pixels) and its SHA-256 in hex."""

    png: bytes
    digest: str
    width: int
    height: int


def public_path(digest: str) -> str:
    """Where the logo of SHA-256 `digest` is served: `/wallet/img/logos/{digest}/logo.png`."""
    return PUBLIC_PATH.format(digest=digest)


def reencoded(data: bytes) -> Logo:
    """The upload `data` as the PNG we keep (see the module's docstring). CPU work of up to a second for the
    largest picture accepted: call it off the event loop (`save_logo` does). Raises LogoRefused with
    NO_FILE, TOO_LARGE, NOT_A_PICTURE, DAMAGED, TOO_MANY_PIXELS or EMPTY_PICTURE."""
    if not data:
        raise LogoRefused(NO_FILE)
    if len(data) > MOST_LOGO_BYTES:
        raise LogoRefused(TOO_LARGE)
    with warnings.catch_warnings():
        # Pillow only warns between its own limit and twice it; here any picture past ours is refused.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        _verified(data)
        picture = _decoded(data)
    box = picture.getchannel("A").getbbox()
    if box is None:
        raise LogoRefused(EMPTY_PICTURE)
    picture = picture.crop(box)
    picture.thumbnail((STORED_SIDE, STORED_SIDE), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    png = buffer.getvalue()
    return Logo(png=png, digest=hashlib.sha256(png).hexdigest(), width=picture.width, height=picture.height)


def _verified(data: bytes) -> None:
    """Opens `data` as one of FORMATS, checks its size from the header alone, and runs Pillow's `verify`
    (PNG: every chunk's checksum). Raises LogoRefused."""
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as probe:
            _check_size(probe.width, probe.height)
            probe.verify()
    except LogoRefused:
        raise
    except UnidentifiedImageError:
        raise LogoRefused(NOT_A_PICTURE) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise LogoRefused(TOO_MANY_PIXELS) from None
    except Exception:  # Pillow's decoders raise many kinds on hostile input: all mean damaged
        raise LogoRefused(DAMAGED) from None


def _decoded(data: bytes) -> Image.Image:
    """The first frame of `data`, decoded in full (a truncated file raises here), upright, as RGBA.
    `verify` leaves its image unusable, so the file is opened again. Raises LogoRefused."""
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as image:
            _check_size(image.width, image.height)
            image.seek(0)
            image.load()
            upright = ImageOps.exif_transpose(image)
            return upright.convert("RGBA")
    except LogoRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise LogoRefused(TOO_MANY_PIXELS) from None
    except Exception:  # as in _verified
        raise LogoRefused(DAMAGED) from None


def _check_size(width: int, height: int) -> None:
    if width < 1 or height < 1:
        raise LogoRefused(DAMAGED)
    if width > MOST_SIDE or height > MOST_SIDE or width * height > MOST_PIXELS:
        raise LogoRefused(TOO_MANY_PIXELS)


async def save_logo(ctx: Context, data: bytes) -> Logo:
    """Makes the upload `data` the calling vendor's programme logo (replacing any), points the programme's
    `logo_url` at its public URL and repaints every pass (`programs.repaint_passes`). Raises LogoRefused
    (see `reencoded`), ProgramNotFound (404)."""
    program = await programs.get_program(ctx)
    logo = await asyncio.to_thread(reencoded, data)
    row = await ctx.session.get(ProgramLogo, program.id)
    if row is None:
        row = ProgramLogo(program_id=program.id)
        ctx.session.add(row)
    row.digest, row.png, row.width, row.height = logo.digest, logo.png, logo.width, logo.height
    row.created_at = ctx.clock.now()
    url = ctx.settings.public_base_url.rstrip("/") + public_path(logo.digest)
    program = await programs.update_program(ctx, ProgramUpdate(logo_url=url))
    await programs.repaint_passes(ctx, program)
    return logo


async def remove_logo(ctx: Context) -> bool:
    """Removes the calling vendor's programme logo, if any: the passes show the vendor's initial again
    (repainted) and `logo_url` is cleared when it pointed at the removed logo. Returns whether there was one.
    Raises ProgramNotFound (404)."""
    program = await programs.get_program(ctx)
    row = await ctx.session.get(ProgramLogo, program.id)
    if row is None:
        return False
    ours = ctx.settings.public_base_url.rstrip("/") + public_path(row.digest)
    await ctx.session.delete(row)
    changes: dict[str, Any] = {"logo_url": None} if program.logo_url == ours else {}
    program = await programs.update_program(ctx, ProgramUpdate(**changes))
    await programs.repaint_passes(ctx, program)
    return True


async def logo_of(ctx: Context, program: LoyaltyProgram) -> Logo | None:
    """The programme's logo as kept, or None. Raises nothing."""
    row = await ctx.session.get(ProgramLogo, program.id)
    if row is None:
        return None
    return Logo(png=row.png, digest=row.digest, width=row.width, height=row.height)


async def logo_by_digest(ctx: Context, digest: str) -> bytes | None:
    """The PNG whose SHA-256 is `digest` (64 lower-case hex digits), any programme's: the public pictures'
    look-up. None when no programme has it. Raises nothing."""
    return await ctx.session.scalar(select(ProgramLogo.png).where(ProgramLogo.digest == digest).limit(1))
