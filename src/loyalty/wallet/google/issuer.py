"""The platform's Google Wallet issuer as the service uses it: loaded and checked once at start-up (and by
`loyalty wallet doctor`), and the save link of a card.

`from_settings` answers None when Google Wallet is not configured (no LOYALTY_GOOGLE_ISSUER_ID): its
routes then answer 503 WALLET_NOT_CONFIGURED. `load_checked` refuses a set-up with an error finding.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from loyalty.config import Settings
from loyalty.wallet.apple.credentials import Finding
from loyalty.wallet.card_facts import CardFacts
from loyalty.wallet.google import credentials, resources, save_link
from loyalty.wallet.google.credentials import GoogleCredentials, GoogleWalletMisconfigured


@dataclass(frozen=True)
class GoogleIssuer:
    """Signs save links for the issuer's objects; `origins` are the pages allowed to show the button."""

    credentials: GoogleCredentials
    origins: tuple[str, ...]

    @property
    def issuer_id(self) -> str:
        return self.credentials.issuer_id

    def save_url(self, card: CardFacts, now: datetime) -> str:
        """`https://pay.google.com/gp/v/save/<JWT>` carrying the card's minimal complete object."""
        body = resources.minimal_object(card, issuer_id=self.issuer_id)
        return save_link.save_url(self.credentials, body, list(self.origins), now)


def from_settings(settings: Settings) -> tuple[GoogleIssuer | None, list[Finding]]:
    """The configured issuer and what is wrong with it; (None, []) when Google Wallet is not configured.

    Raises GoogleWalletMisconfigured when the key file is missing or unreadable.
    """
    if not settings.google_wallet_configured:
        return None, []
    loaded = credentials.load(settings.google_issuer_id, settings.google_service_account_file)
    findings = credentials.check(loaded, settings.public_base_url.rstrip("/"))
    return GoogleIssuer(loaded, tuple(settings.google_origin_list)), findings


def load_checked(settings: Settings) -> tuple[GoogleIssuer | None, list[Finding]]:
    """The configured issuer and its warnings. Raises GoogleWalletMisconfigured, one line per error finding."""
    issuer, findings = from_settings(settings)
    errors = [finding.message for finding in findings if finding.severity == "error"]
    if errors:
        raise GoogleWalletMisconfigured(errors)
    return issuer, findings
