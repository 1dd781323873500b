"""Card identifiers: a human-readable number with a Luhn check digit, two unguessable tokens, and
the wallet pass's serial number and authentication token.

The number is what a customer reads out at the counter; a typo in one digit (or two swapped digits)
fails the check digit. The QR payload and the public `card_token` are separate 192-bit random tokens,
so knowing a card number never lets anyone open the card's public page.
"""

from __future__ import annotations

import secrets
import string

CARD_NUMBER_DIGITS = 16
# What a person types between the groups of a card number; anything else means the text is not one.
_SEPARATORS = frozenset(" -\u00a0\u202f\t")
# The pydantic error type of a typed number whose check digit fails (api/errors.py translates it).
CHECK_DIGIT_ERROR = "card_number_check_digit"


def luhn_check_digit(digits: str) -> str:
    """The Luhn (ISO/IEC 7812-1) check digit of `digits`: a single digit catches any one wrong digit and
    most swaps of two neighbours."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:  # these get doubled once the check digit is appended
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return str((10 - total % 10) % 10)


def is_valid_card_number(number: str) -> bool:
    """Whether `number` is CARD_NUMBER_DIGITS digits whose last is the Luhn check digit of the others."""
    if not _is_ascii_digits(number) or len(number) != CARD_NUMBER_DIGITS:
        return False
    return luhn_check_digit(number[:-1]) == number[-1]


def new_card_number() -> str:
    """A random 16-digit card number (no leading zero) ending in its Luhn check digit."""
    body = str(secrets.randbelow(9 * 10 ** (CARD_NUMBER_DIGITS - 2)) + 10 ** (CARD_NUMBER_DIGITS - 2))
    return body + luhn_check_digit(body)


def normalise_card_number(typed: str) -> str:
    """What staff type ("4123 4567-8901 2345") → the stored form (ASCII digits only); "" when the text
    holds anything but digits and separators ("100%", "12ab", "²"), which is then no card number at all
    (str.isdigit alone would read "100%" as "100" and "²" as a digit)."""
    stripped = "".join(char for char in typed if char not in _SEPARATORS)
    return stripped if _is_ascii_digits(stripped) else ""


def _is_ascii_digits(text: str) -> bool:
    return bool(text) and all(char in string.digits for char in text)


def format_card_number(number: str) -> str:
    """The number as printed on the card: groups of four digits (`4000 1234 5678 9010`)."""
    return " ".join(number[i : i + 4] for i in range(0, len(number), 4))


def new_token() -> str:
    """A QR payload or public card token: 192 random bits, 32 URL-safe characters (DESIGN.md: ≥ 128)."""
    return secrets.token_urlsafe(24)


def new_pass_serial_number() -> str:
    """The pass's `serialNumber`: 128 random bits as 32 hex digits, unrelated to any other identifier
    of the card (WALLET.md: not the card token, card number or QR payload)."""
    return secrets.token_hex(16)


def new_authentication_token() -> str:
    """The pass's `authenticationToken`: 256 random bits, 43 URL-safe characters (Apple asks for ≥ 16)."""
    return secrets.token_urlsafe(32)
