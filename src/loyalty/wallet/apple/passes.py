"""The platform's Apple Wallet: its configuration loaded and checked once, and the `.pkpass` of a card.

`from_settings` is what start-up and `loyalty wallet doctor` call: None when Apple Wallet is not
configured (its routes then answer 503 WALLET_NOT_CONFIGURED), else the loaded credentials with the
findings of `credentials.check`; the caller decides what an error finding means (start-up refuses
to start, the doctor prints it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from loyalty.config import Settings
from loyalty.wallet.apple import credentials, package, store_card
from loyalty.wallet.apple.credentials import AppleCredentials, AppleSettings, AppleWalletMisconfigured, Finding
from loyalty.wallet.card_facts import CardFacts

WEB_SERVICE_PATH = "/api/v1/loyalty/apple"


@dataclass(frozen=True)
class ApplePasses:
    """Renders and signs the passes of the platform's one pass type."""

    credentials: AppleCredentials
    web_service_url: str

    @property
    def pass_type_identifier(self) -> str:
        return self.credentials.pass_type_identifier

    def render(self, facts: CardFacts) -> bytes:
        """The signed `.pkpass` of the card described by `facts` (WALLET.md, "The pass")."""
        files = store_card.pass_files(
            facts,
            pass_type_identifier=self.credentials.pass_type_identifier,
            team_identifier=self.credentials.team_identifier,
            web_service_url=self.web_service_url,
        )
        return package.package(files, self.credentials, facts.modified_at)


def apple_settings(settings: Settings) -> AppleSettings | None:
    """The Apple settings as given, or None when Apple Wallet is not configured (no pass type id)."""
    if not settings.apple_wallet_configured:
        return None
    problems = []
    if not settings.apple_team_id.strip():
        problems.append("LOYALTY_APPLE_TEAM_ID is not set: it is the OU of the pass certificate")
    if settings.apple_wwdr_cert is None:
        problems.append("LOYALTY_APPLE_WWDR_CERT is not set: the intermediate that issued the pass certificate")
    if problems or settings.apple_wwdr_cert is None:
        raise AppleWalletMisconfigured(problems)
    return AppleSettings(
        pass_type_identifier=settings.apple_pass_type_id.strip(),
        team_identifier=settings.apple_team_id.strip(),
        wwdr_certificate_file=settings.apple_wwdr_cert,
        certificate_file=settings.apple_cert,
        key_file=settings.apple_key,
        key_password=settings.apple_key_password,
        p12_file=settings.apple_p12,
        p12_password=settings.apple_p12_password,
    )


def load_checked(settings: Settings, now: datetime) -> tuple[ApplePasses | None, list[Finding]]:
    """The configured Apple Wallet, ready to sign, and the warnings about it (start-up's call).

    Raises AppleWalletMisconfigured with one line per error finding: a service that would hand out
    passes no device accepts must not start.
    """
    passes, findings = from_settings(settings, now)
    errors = [finding.message for finding in findings if finding.severity == "error"]
    if errors:
        raise AppleWalletMisconfigured(errors)
    return passes, findings


def from_settings(settings: Settings, now: datetime) -> tuple[ApplePasses | None, list[Finding]]:
    """The configured Apple Wallet and what is wrong with it; (None, []) when it is not configured.

    Raises AppleWalletMisconfigured when a setting is missing or a file cannot be read.
    """
    given = apple_settings(settings)
    if given is None:
        return None, []
    loaded = credentials.load(given)
    base_url = settings.public_base_url.rstrip("/")
    findings = credentials.check(loaded, base_url, now)
    return ApplePasses(loaded, base_url + WEB_SERVICE_PATH), findings
