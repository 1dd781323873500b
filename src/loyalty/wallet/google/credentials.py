"""The platform's Google Wallet issuer: the service account that signs save links and calls the API.

The key file is a Google service-account JSON key, loaded by google-auth (which honours its
`token_uri`, so the tests and the demo point it at a local peer). `check` finds what would make
Google refuse everything: an issuer id that is not Google's (digits), a key file without a private
key or e-mail, a public base URL that is not https outside development (the pictures and the card
link must be public https; WALLET.md, "Configuration").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from google.auth.crypt import RSASigner
from google.oauth2 import service_account

from loyalty.wallet.apple.credentials import Finding, is_acceptable_base_url

SCOPE = "https://www.googleapis.com/auth/wallet_object.issuer"


class GoogleWalletMisconfigured(Exception):
    """The Google Wallet settings cannot work; `problems` are one line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class GoogleCredentials:
    """The issuer id and the service account (its e-mail, signer and token endpoint) of the platform."""

    issuer_id: str
    service_account: service_account.Credentials
    token_uri: str

    @property
    def email(self) -> str:
        return str(self.service_account.service_account_email)

    @property
    def signer(self) -> RSASigner:
        signer = self.service_account.signer
        assert isinstance(signer, RSASigner)
        return signer


def load(issuer_id: str, key_file: Path | None) -> GoogleCredentials:
    """Reads the service-account key. Raises GoogleWalletMisconfigured naming what is missing or unreadable."""
    if key_file is None:
        raise GoogleWalletMisconfigured(["LOYALTY_GOOGLE_SERVICE_ACCOUNT_FILE is not set: the service account's key"])
    try:
        info = json.loads(key_file.read_text())
        account = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
            info, scopes=[SCOPE]
        )
    except FileNotFoundError as exc:
        raise GoogleWalletMisconfigured([f"LOYALTY_GOOGLE_SERVICE_ACCOUNT_FILE: {key_file} does not exist"]) from exc
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise GoogleWalletMisconfigured(
            [f"LOYALTY_GOOGLE_SERVICE_ACCOUNT_FILE: {key_file} is not a service-account JSON key ({exc})"]
        ) from exc
    return GoogleCredentials(issuer_id.strip(), account, str(info["token_uri"]))


def check(credentials: GoogleCredentials, public_base_url: str) -> list[Finding]:
    """What would make Google refuse the classes, objects or save links, one finding each."""
    findings = []
    if not credentials.issuer_id.isdigit():
        findings.append(
            Finding(
                "error",
                f"LOYALTY_GOOGLE_ISSUER_ID is {credentials.issuer_id!r}: an issuer id is the number the Google "
                "Pay & Wallet Console shows",
            )
        )
    if not is_acceptable_base_url(public_base_url):
        findings.append(
            Finding(
                "error",
                f"LOYALTY_PUBLIC_BASE_URL is {public_base_url!r}: Google fetches the pass pictures over https "
                "(http is allowed for 127.0.0.1 and localhost, in development)",
            )
        )
    elif not public_base_url.startswith("https://"):
        findings.append(
            Finding("warning", "LOYALTY_PUBLIC_BASE_URL is http: Google cannot fetch the pictures of a pass from it")
        )
    return findings
