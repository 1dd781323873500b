"""The pictures a wallet shows, drawn with Pillow at the exact pixel sizes each wallet asks for.

Apple (WALLET.md, "The pass"; Apple's "Pass Design and Creation"): `icon.png` 29×29 pt, `logo.png`
at most 160×50 pt, `strip.png` 375×144 pt for a store card, each also at @2x and @3x. The strip
shows the stamps, filled and empty; Wallet writes the primary field over the strip's left side, so
the stamps sit on the right, and everything stays inside the central 123-pt band, which no device
crops. Google (WALLET.md, "Google Wallet"): the hero image is 1032×336 px with the stamps across it, the
programme logo a square of 660×660 px with a 15 % margin. Pictures depend only on the programme's look
and the stamp count, never on the customer, so they are cached by those.

A vendor may upload a logo (`services/logos.py` keeps it as a PNG of at most 660×660): Apple's `logo.png`
and Google's programme logo are then drawn from it (`uploaded_logo`, `uploaded_program_logo`) instead of
the vendor's initial.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from loyalty.wallet.colors import RGB

SCALES = (1, 2, 3)
ICON_POINTS = (29, 29)
LOGO_POINTS = (50, 50)  # within Apple's 160×50 limit: a square mark beside the logoText
STRIP_POINTS = (375, 144)
SAFE_BAND_POINTS = 123
HERO_PIXELS = (1032, 336)  # Google Wallet's hero image (WALLET.md)
PROGRAM_LOGO_PIXELS = (660, 660)  # Google Wallet's programLogo: square, at least 660×660
PROGRAM_LOGO_MARGIN = 0.15  # Google masks the logo to a circle: what matters stays inside this margin
UPLOADED_LOGO_POINTS = (160, 50)  # Apple's largest logo.png: an uploaded logo keeps its own proportions
MOST_STAMP_MARKS = 24  # past this a row of marks is unreadable: the strip draws a progress bar


@dataclass(frozen=True)
class Palette:
    """The card's colours: background and the text colour chosen readable on it (`colors.readable_text`)."""

    background: RGB
    foreground: RGB


def scaled_name(name: str, scale: int) -> str:
    """`icon.png`, `icon@2x.png`, `icon@3x.png`."""
    return f"{name}.png" if scale == 1 else f"{name}@{scale}x.png"


@lru_cache(maxsize=256)
def icon(palette: Palette, initial: str, scale: int) -> bytes:
    """The square icon shown in notifications and on the lock screen: the vendor's initial."""
    return _monogram(palette, initial, ICON_POINTS, scale)


@lru_cache(maxsize=256)
def logo(palette: Palette, initial: str, scale: int) -> bytes:
    """The mark at the top left of the pass, beside the vendor's name (logoText)."""
    return _monogram(palette, initial, LOGO_POINTS, scale)


@lru_cache(maxsize=1024)
def strip(palette: Palette, filled: int, target: int, scale: int) -> bytes:
    """The stamp card: `target` marks of which `filled` are full, on the right of the strip."""
    width, height = (points * scale for points in STRIP_POINTS)
    image = Image.new("RGB", (width, height), palette.background)
    draw = ImageDraw.Draw(image)
    band_top = (STRIP_POINTS[1] - SAFE_BAND_POINTS) / 2 * scale
    left, right = width * 0.42, width * 0.96
    top, bottom = band_top + 8 * scale, band_top + (SAFE_BAND_POINTS - 8) * scale
    if target > MOST_STAMP_MARKS:
        _progress_bar(draw, palette, min(filled, target) / target, (left, top, right, bottom), scale)
    else:
        _marks(draw, palette, min(filled, target), target, (left, top, right, bottom), scale)
    return _png(image)


@lru_cache(maxsize=256)
def hero(palette: Palette, filled: int, target: int) -> bytes:
    """Google Wallet's hero image: `target` marks of which `filled` are full, across the picture."""
    width, height = HERO_PIXELS
    image = Image.new("RGB", (width, height), palette.background)
    draw = ImageDraw.Draw(image)
    box = (width * 0.05, height * 0.1, width * 0.95, height * 0.9)
    if target > MOST_STAMP_MARKS:
        _progress_bar(draw, palette, min(filled, target) / target, box, 3)
    else:
        _marks(draw, palette, min(filled, target), target, box, 3)
    return _png(image)


@lru_cache(maxsize=256)
def program_logo(palette: Palette, initial: str) -> bytes:
    """Google Wallet's programme logo: the vendor's initial, inside the 15 % margin Google asks for."""
    width, height = PROGRAM_LOGO_PIXELS
    image = Image.new("RGB", (width, height), palette.background)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=round(height * 0.5))
    draw.text((width / 2, height / 2), initial[:1].upper() or "?", fill=palette.foreground, font=font, anchor="mm")
    return _png(image)


@lru_cache(maxsize=64)
def uploaded_logo(picture: bytes, scale: int) -> bytes:
    """Apple's `logo.png` at `scale` from the vendor's uploaded logo (a PNG): as large as fits within
    160×50 points, its proportions and transparency kept (Wallet draws it on the pass's background)."""
    width, height = (points * scale for points in UPLOADED_LOGO_POINTS)
    return _png(_fitted(_opened(picture), width, height))


@lru_cache(maxsize=64)
def uploaded_program_logo(picture: bytes, palette: Palette) -> bytes:
    """Google Wallet's programme logo from the vendor's uploaded logo (a PNG): 660×660 on the card's colour,
    the logo as large as fits inside the 15 % margin, centred."""
    width, height = PROGRAM_LOGO_PIXELS
    inner_width, inner_height = (round(size * (1 - 2 * PROGRAM_LOGO_MARGIN)) for size in PROGRAM_LOGO_PIXELS)
    logo = _fitted(_opened(picture), inner_width, inner_height)
    image = Image.new("RGBA", (width, height), (*palette.background, 255))
    image.alpha_composite(logo, ((width - logo.width) // 2, (height - logo.height) // 2))
    return _png(image.convert("RGB"))


def _opened(picture: bytes) -> Image.Image:
    """A PNG we made (services/logos.py re-encoded it), as RGBA."""
    with Image.open(io.BytesIO(picture), formats=["PNG"]) as image:
        return image.convert("RGBA")


def _fitted(image: Image.Image, width: int, height: int) -> Image.Image:
    """`image` scaled, up or down, to the largest size within width×height that keeps its proportions."""
    ratio = min(width / image.width, height / image.height)
    size = (max(1, min(width, round(image.width * ratio))), max(1, min(height, round(image.height * ratio))))
    return image.resize(size, Image.Resampling.LANCZOS)


def _marks(
    draw: ImageDraw.ImageDraw,
    palette: Palette,
    filled: int,
    target: int,
    box: tuple[float, float, float, float],
    scale: int,
) -> None:
    left, top, right, bottom = box
    rows = 1 if target <= 5 else 2 if target <= 12 else 3
    columns = math.ceil(target / rows)
    cell = min((right - left) / columns, (bottom - top) / rows)
    radius = cell * 0.38
    outline = max(1, round(2 * scale))
    origin_x = right - cell * columns
    origin_y = top + ((bottom - top) - cell * rows) / 2
    for index in range(target):
        row, column = divmod(index, columns)
        centre_x = origin_x + cell * (column + 0.5)
        centre_y = origin_y + cell * (row + 0.5)
        circle = (centre_x - radius, centre_y - radius, centre_x + radius, centre_y + radius)
        fill = palette.foreground if index < filled else None
        draw.ellipse(circle, fill=fill, outline=palette.foreground, width=outline)


def _progress_bar(
    draw: ImageDraw.ImageDraw,
    palette: Palette,
    share: float,
    box: tuple[float, float, float, float],
    scale: int,
) -> None:
    left, top, right, bottom = box
    middle = (top + bottom) / 2
    half = 10 * scale
    outline = max(1, round(2 * scale))
    draw.rounded_rectangle(
        (left, middle - half, right, middle + half), radius=half, outline=palette.foreground, width=outline
    )
    if share > 0:
        end = left + (right - left) * share
        draw.rounded_rectangle(
            (left, middle - half, max(end, left + 2 * half), middle + half), radius=half, fill=palette.foreground
        )


def _monogram(palette: Palette, initial: str, points: tuple[int, int], scale: int) -> bytes:
    width, height = (size * scale for size in points)
    image = Image.new("RGB", (width, height), palette.background)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=round(height * 0.6))
    draw.text((width / 2, height / 2), initial[:1].upper() or "?", fill=palette.foreground, font=font, anchor="mm")
    return _png(image)


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
