"""`loyalty wallet …`: doctor (check the wallet set-up), dev-certs (development certificates)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from loyalty.cli.common import _settings
from loyalty.clock import SystemClock
from loyalty.config import Settings

wallet_app = typer.Typer(help="Apple Wallet and Google Wallet set-up.", no_args_is_help=True, rich_markup_mode=None)


@wallet_app.command("doctor")
def wallet_doctor() -> None:
    """Check the wallet set-up. Apple: certificate and key match, the WWDR certificate issued the pass
    certificate, the pass type id is the certificate's, expiry (a warning 30 days ahead). Google: the
    service-account key reads, the issuer id is Google's. Both: an https base URL outside development.
    Prints one line per finding; exits 1 when any is an error."""
    settings = _settings()
    apple_ok = _doctor_apple(settings)
    google_ok = _doctor_google(settings)
    if not (apple_ok and google_ok):
        raise typer.Exit(1)


def _doctor_apple(settings: Settings) -> bool:
    from loyalty.wallet.apple import passes
    from loyalty.wallet.apple.credentials import AppleWalletMisconfigured

    try:
        apple, findings = passes.from_settings(settings, SystemClock().now())
    except AppleWalletMisconfigured as exc:
        typer.echo("\n".join(f"Apple Wallet: error: {problem}" for problem in exc.problems), err=True)
        return False
    if apple is None:
        typer.echo("Apple Wallet: not configured (set LOYALTY_APPLE_PASS_TYPE_ID; see docs/wallet.md)")
        return True
    if not _echo_findings("Apple Wallet", findings):
        return False
    typer.echo(
        f"Apple Wallet: ok: pass type {apple.pass_type_identifier}, certificate valid until "
        f"{apple.credentials.expires_at:%Y-%m-%d}, web service {apple.web_service_url}"
    )
    return True


def _doctor_google(settings: Settings) -> bool:
    from loyalty.wallet.google import issuer
    from loyalty.wallet.google.credentials import GoogleWalletMisconfigured

    try:
        google, findings = issuer.from_settings(settings)
    except GoogleWalletMisconfigured as exc:
        typer.echo("\n".join(f"Google Wallet: error: {problem}" for problem in exc.problems), err=True)
        return False
    if google is None:
        typer.echo("Google Wallet: not configured (set LOYALTY_GOOGLE_ISSUER_ID; see docs/wallet.md)")
        return True
    if not _echo_findings("Google Wallet", findings):
        return False
    typer.echo(
        f"Google Wallet: ok: issuer {google.issuer_id}, service account {google.credentials.email}, "
        f"token endpoint {google.credentials.token_uri}, API {settings.google_api_url}, "
        f"origins {', '.join(google.origins)}"
    )
    return True


def _echo_findings(wallet: str, findings: list[Any]) -> bool:
    """Prints each finding; False when one is an error."""
    for finding in findings:
        typer.echo(f"{wallet}: {finding.severity}: {finding.message}", err=finding.severity == "error")
    return not any(finding.severity == "error" for finding in findings)


@wallet_app.command("dev-certs")
def wallet_dev_certs(
    directory: Path = typer.Argument(..., help="Where to write the files (created if missing)."),
    pass_type_id: str = typer.Option("pass.dev.loyalty.example", help="Pass type id in the pass certificate."),
    team_id: str = typer.Option("DEVTEAM123", help="Team id in the pass certificate (its OU)."),
    google_token_uri: str = typer.Option(
        "http://127.0.0.1:8470/token", help="The token endpoint written in the Google service-account key."
    ),
) -> None:
    """Write development certificates shaped like Apple's: a root CA, an intermediate standing in for
    WWDR, a Pass Type ID certificate and key, and a TLS certificate for a local APNs peer; and a Google
    service-account key whose token endpoint is local. Passes signed with them verify against the root
    with openssl; a phone will not install them, nor Google accept the key (docs/wallet.md)."""
    from loyalty.wallet import dev_certs

    paths = dev_certs.write_dev_certificates(
        directory, pass_type_identifier=pass_type_id, team_identifier=team_id, google_token_uri=google_token_uri
    )
    typer.echo(
        f"""Wrote development wallet certificates to {directory}. To use them:
  LOYALTY_APPLE_PASS_TYPE_ID={pass_type_id}
  LOYALTY_APPLE_TEAM_ID={team_id}
  LOYALTY_APPLE_CERT={paths.pass_certificate}
  LOYALTY_APPLE_KEY={paths.pass_key}
  LOYALTY_APPLE_WWDR_CERT={paths.wwdr_certificate}
  LOYALTY_GOOGLE_ISSUER_ID={dev_certs.DEV_GOOGLE_ISSUER_ID}
  LOYALTY_GOOGLE_SERVICE_ACCOUNT_FILE={paths.google_service_account}
  LOYALTY_GOOGLE_DRY_RUN=true   (Google refuses this key; a save link's JWT verifies with {paths.google_certificate})
Check a pass: openssl cms -verify -binary -inform DER -in signature -content manifest.json \\
  -CAfile <(cat {paths.root_certificate} {paths.wwdr_certificate}) -purpose any"""
    )
