"""Card colours that stay readable: WCAG 2.x contrast between a text colour and its background.

Both wallets draw the vendor's text on the vendor's colour; a label that fails WCAG's 4.5:1 for
normal text (Success Criterion 1.4.3) is replaced by black or white, whichever contrasts more.
"""

from __future__ import annotations

import re

RGB = tuple[int, int, int]

DEFAULT_BACKGROUND: RGB = (17, 24, 39)
BLACK: RGB = (0, 0, 0)
WHITE: RGB = (255, 255, 255)
MINIMUM_CONTRAST = 4.5
_HEX = re.compile(r"^#([0-9a-fA-F]{6})$")


def parse_hex(value: str | None, default: RGB = DEFAULT_BACKGROUND) -> RGB:
    """`#RRGGBB` → (r, g, b) in 0–255; `default` for None or anything else."""
    match = _HEX.match(value or "")
    if match is None:
        return default
    digits = match.group(1)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def relative_luminance(color: RGB) -> float:
    """WCAG 2.x relative luminance, 0 (black) to 1 (white)."""

    def linear(channel: int) -> float:
        value = channel / 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(channel) for channel in color)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast_ratio(first: RGB, second: RGB) -> float:
    """WCAG contrast ratio, 1 to 21."""
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def readable_text(background: RGB, preferred: RGB | None = None) -> RGB:
    """`preferred` when it reaches 4.5:1 on `background`, else black or white, whichever contrasts more."""
    if preferred is not None and contrast_ratio(preferred, background) >= MINIMUM_CONTRAST:
        return preferred
    return BLACK if contrast_ratio(BLACK, background) >= contrast_ratio(WHITE, background) else WHITE


def css_rgb(color: RGB) -> str:
    """`rgb(r, g, b)`, the form pass.json's colour keys take."""
    return f"rgb({color[0]}, {color[1]}, {color[2]})"
