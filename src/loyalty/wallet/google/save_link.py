"""The "Save to Google Wallet" link: `https://pay.google.com/gp/v/save/<JWT>` (Google's "Add to Google
Wallet" JWT reference; WALLET.md, "Google Wallet").

The JWT is RS256, signed with the service account's key (google-auth), with the claims `iss` (the
service account's e-mail), `aud` "google", `typ` "savetowallet", `iat`, `origins` and a payload of
one minimal complete LoyaltyObject; no class (the worker inserts it). Browsers cut long links, so the
whole JWT stays under `LONGEST_JWT` characters: tests build the worst case and measure it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.auth import jwt

from loyalty.wallet.google.credentials import GoogleCredentials

SAVE_URL = "https://pay.google.com/gp/v/save/"
LONGEST_JWT = 1800


def save_jwt(credentials: GoogleCredentials, loyalty_object: dict[str, Any], origins: list[str], now: datetime) -> str:
    """The signed JWT that saves `loyalty_object` to the holder's Google Wallet."""
    claims = {
        "iss": credentials.email,
        "aud": "google",
        "typ": "savetowallet",
        "iat": int(now.timestamp()),
        "origins": origins,
        "payload": {"loyaltyObjects": [loyalty_object]},
    }
    token: bytes = jwt.encode(credentials.signer, claims)  # type: ignore[no-untyped-call]
    return token.decode("ascii")


def save_url(credentials: GoogleCredentials, loyalty_object: dict[str, Any], origins: list[str], now: datetime) -> str:
    return SAVE_URL + save_jwt(credentials, loyalty_object, origins, now)
