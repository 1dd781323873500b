"""`loyalty demo`: migrate, load the demo data and serve, with development wallets and a worker beside it."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

from loyalty.cli.common import CliError, _checked, _require_free_port, _run, _settings, describe_database
from loyalty.cli.serve import serve
from loyalty.clock import SystemClock
from loyalty.config import Settings
from loyalty.db import Database

NOT_A_DEMO_FLAG = "--i-know-this-is-not-a-demo-database"


def demo(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="TCP port."),
    seed_only: bool = typer.Option(False, "--seed-only", help="Create the demo data and exit."),
    not_a_demo_database: bool = typer.Option(
        False,
        NOT_A_DEMO_FLAG,
        help="Load the demo (and its published keys) into a database that already holds other vendors or "
        "keys; without it the demo refuses any database but an empty one or its own.",
    ),
) -> None:
    """Migrate, load demo data and serve: everything a first look needs.

    The demo's API keys are published in the README: anyone who can reach the server can use them.
    So it runs only on its own database: an empty one (the default ./loyalty.db on a first run) or
    one it seeded before."""
    from loyalty import demo as demo_data
    from loyalty import migrate

    settings = _settings()
    if not seed_only:
        _require_free_port(host, port)

    async def verdict() -> demo_data.DemoVerdict:
        database = Database.from_url(settings.database_url)
        try:
            return await demo_data.demo_database_verdict(database)
        finally:
            await database.dispose()

    found = _run(verdict)
    if not found.is_demo_database and not not_a_demo_database:
        raise CliError(
            f"refusing to load the demo into {describe_database(settings.database_url)}: it holds "
            f"{found.vendors} vendors and {found.api_keys} API keys of its own, and the demo adds API keys "
            f"published in the README that anyone could use; point LOYALTY_DATABASE_URL at an empty "
            f"database, or pass {NOT_A_DEMO_FLAG} if that is really what you want"
        )
    migrate.upgrade(settings.database_url)

    async def seed() -> demo_data.DemoSummary:
        database = Database.from_url(settings.database_url)
        try:
            return await demo_data.seed_demo(database, settings)
        finally:
            await database.dispose()

    summary = _run(seed)
    base = f"http://{host}:{port}"
    wallet_note = _use_development_wallet(settings, base)
    _print_demo(summary, base, settings.database_url, wallet_note)
    if not seed_only:
        with _demo_worker():
            serve(host=host, port=port, workers=1, migrate_first=False)


@contextlib.contextmanager
def _demo_worker() -> Iterator[None]:
    """`loyalty worker` beside the demo's server, in its log. With the development certificates Apple
    would refuse every push and Google every call, so unless LOYALTY_APNS_DRY_RUN or
    LOYALTY_GOOGLE_DRY_RUN say otherwise it logs each push or call it would make (`"event":
    "wallet_push"` or `"wallet_sync"`, `"dry_run": true`) instead."""
    import os
    import subprocess

    env = {**os.environ}
    if not os.environ.get("LOYALTY_APNS_DRY_RUN") and os.environ.get("LOYALTY_APPLE_PASS_TYPE_ID") == DEV_PASS_TYPE:
        env["LOYALTY_APNS_DRY_RUN"] = "true"
    if not os.environ.get("LOYALTY_GOOGLE_DRY_RUN") and os.environ.get("LOYALTY_GOOGLE_ISSUER_ID") == DEV_ISSUER:
        env["LOYALTY_GOOGLE_DRY_RUN"] = "true"
    worker = subprocess.Popen([sys.executable, "-m", "loyalty", "worker"], env=env)
    try:
        yield
    finally:
        worker.terminate()
        worker.wait(timeout=30)


DEV_WALLET_DIR = Path(".loyalty-dev") / "wallet"
DEV_PASS_TYPE = "pass.dev.loyalty.example"  # wallet/dev_certs.py's; read here without importing it
DEV_ISSUER = "3388000000000000001"  # wallet/dev_certs.py's DEV_GOOGLE_ISSUER_ID


def _use_development_wallet(settings: Settings, base: str) -> str:
    """The wallets for the demo: the configured ones, else development certificates and a development
    Google service account in `.loyalty-dev/wallet` (written on first use, renewed a month before they
    expire), so every pass download and save link works with no Apple or Google account. The server
    reads them from the environment. Returns the lines that say which."""
    import os

    from loyalty.wallet import dev_certs
    from loyalty.wallet.apple import credentials

    paths = dev_certs.paths_in(DEV_WALLET_DIR.resolve())
    if not (
        _still_valid(paths.pass_certificate, credentials.EXPIRY_WARNING)
        and _still_valid(paths.google_certificate, credentials.EXPIRY_WARNING)
    ):
        dev_certs.write_dev_certificates(DEV_WALLET_DIR.resolve())
    os.environ.setdefault("LOYALTY_PUBLIC_BASE_URL", base)
    lines = [_use_development_apple_wallet(settings, paths), _use_development_google_wallet(settings, paths)]
    _checked.clear()  # the next _settings() reads the wallet settings just set
    return "\n  ".join(lines)


def _use_development_apple_wallet(settings: Settings, paths: Any) -> str:
    import os

    from loyalty.wallet import dev_certs

    if settings.apple_wallet_configured:
        return f"Apple Wallet    configured: pass type {settings.apple_pass_type_id}"
    os.environ.update(
        LOYALTY_APPLE_PASS_TYPE_ID=dev_certs.DEV_PASS_TYPE_ID,
        LOYALTY_APPLE_TEAM_ID=dev_certs.DEV_TEAM_ID,
        LOYALTY_APPLE_CERT=str(paths.pass_certificate),
        LOYALTY_APPLE_KEY=str(paths.pass_key),
        LOYALTY_APPLE_WWDR_CERT=str(paths.wwdr_certificate),
    )
    return (
        f"Apple Wallet    development certificates in {DEV_WALLET_DIR}/ (passes verify against root.pem "
        "with openssl; a phone installs only passes signed through Apple)"
    )


def _use_development_google_wallet(settings: Settings, paths: Any) -> str:
    import os

    from loyalty.wallet import dev_certs

    if settings.google_wallet_configured:
        return f"Google Wallet   configured: issuer {settings.google_issuer_id}"
    os.environ.update(
        LOYALTY_GOOGLE_ISSUER_ID=dev_certs.DEV_GOOGLE_ISSUER_ID,
        LOYALTY_GOOGLE_SERVICE_ACCOUNT_FILE=str(paths.google_service_account),
    )
    return (
        f"Google Wallet   development service account in {DEV_WALLET_DIR}/ (save links verify with "
        "google-service-account.pem; Google accepts only a real issuer's)"
    )


def _still_valid(certificate_file: Path, margin: Any) -> bool:
    from cryptography import x509

    try:
        certificate = x509.load_pem_x509_certificate(certificate_file.read_bytes())
    except (OSError, ValueError):
        return False
    return bool(certificate.not_valid_after_utc - margin > SystemClock().now())


def _print_demo(summary: Any, base: str, database_url: str, wallet_note: str) -> None:
    settings_mail_dir = _settings().mail_dir
    from loyalty import demo as d

    cards = "\n".join(
        f"                  {c.shop:<12} {c.customer:<6} card_id {c.card_id}  number {c.card_number}\n"
        f"                    page {base}/card/{c.card_token}\n"
        f"                    Apple Wallet pass {base}/api/v1/loyalty/cards/{c.card_token}/apple-pass\n"
        f"                    Google Wallet link {base}/api/v1/loyalty/cards/{c.card_token}/google-wallet"
        for c in summary.cards
    )
    first = summary.cards[0]
    dashboard = (
        f"{base}{summary.owner_invitation}  the café owner {d.CAFE_OWNER}: choose a password (one-time link)"
        if summary.owner_invitation
        else f"{base}/vendor/login  as the café owner {d.CAFE_OWNER}, with the password you chose"
    )
    admin = (
        f"{base}{summary.admin_invitation}  the platform admin {d.PLATFORM_ADMIN}: choose a password (one-time link)"
        if summary.admin_invitation
        else f"{base}/admin/login  as the platform admin {d.PLATFORM_ADMIN}, with the password you chose"
    )
    typer.echo(
        f"""
Loyalty demo ready on {describe_database(database_url)}.
  API docs        {base}/docs
  Health          {base}/api/v1/loyalty/health
  Enrolment pages {base}/join/{summary.cafe_slug}
                  {base}/join/{summary.bakery_slug}
  Dashboard       {dashboard}
  Admin pages     {admin}
  Counter         {base}/terminal/pair  pairing code {summary.pairing_code} (the café's "Demo counter", valid
                  10 minutes; `make demo` again for a new one), then type a card number below and stamp
                  with Anna's PIN {d.CAFE_PIN}
  Public API      {base}/api/v1/loyalty/programs/{summary.cafe_slug}
  Mails           written to {settings_mail_dir}/ (no SMTP server in the demo)
  Admin key       {d.DEMO_ADMIN_KEY}
  Café key        {d.CAFE_KEY}    stamp card; staff PINs {d.CAFE_PIN} (Anna), {d.CAFE_PIN_2} (Luc)
  Bakery key      {d.BAKERY_KEY}  points; staff PIN {d.BAKERY_PIN} (Marie)
  {wallet_note}
  Demo cards
{cards}

Try:  curl -s -X POST {base}/api/v1/vendor/loyalty/stamp -H "Authorization: Bearer {d.CAFE_KEY}" \\
        -H "Content-Type: application/json" -d '{{"card_id": {first.card_id}, "staff_pin": "{d.CAFE_PIN}"}}'
"""
    )
