"""The `loyalty` command: serve, demo, db upgrade/downgrade, keys.

Errors a user can cause (a bad setting or database URL, an unreachable database, a schema behind the
code, a port in use) print one `loyalty: error:` line to stderr and exit 1; tracebacks are for bugs.
The settings are read and checked once, before a command does anything, and every command that uses
the database first says which one on stderr (password hidden), so stdout keeps only what a script reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from loyalty import __version__
from loyalty.clock import SystemClock
from loyalty.config import Settings
from loyalty.db import Database, DatabaseUrlError
from loyalty.services import api_keys, totals
from loyalty.services.context import Context

# rich_markup_mode=None: Click's plain help, where a flag reads `--migrate`, not `--migrate <bool>`
# (Typer's rich panel gives every option, flags and --help included, a type column).
if TYPE_CHECKING:
    from loyalty.migrate import SchemaState  # imported when a command needs it: start-up stays quick

app = typer.Typer(
    help="Loyalty platform: stamp cards and points for small vendors.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True, rich_markup_mode=None)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True, rich_markup_mode=None)
wallet_app = typer.Typer(help="Apple Wallet and Google Wallet set-up.", no_args_is_help=True, rich_markup_mode=None)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(wallet_app, name="wallet")

T = TypeVar("T")


class CliError(Exception):
    """A problem the user can fix, reported in one line."""


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"loyalty {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_print_version, help="Print the version and exit."
    ),
) -> None:
    """Loyalty platform: stamp cards and points for small vendors."""


_checked: list[Settings] = []


def _settings() -> Settings:
    """The settings, read and checked once per command (every `LOYALTY_*` variable and `.env`), and
    the database they name, said in one line on stderr."""
    if _checked:
        return _checked[0]
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = f"LOYALTY_{str(first['loc'][0]).upper()}"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise CliError(message if message.startswith(name) else f"invalid setting {name}: {message}") from exc
    _checked.append(settings)
    typer.echo(f"loyalty: database {describe_database(settings.database_url)}", err=True)
    return settings


def describe_database(url: str) -> str:
    """The database a URL names, for people: the URL with its password hidden, and for SQLite the
    absolute path of the file (a relative path is relative to the working directory)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"SQLite file {Path(parsed.database or '').resolve()}"
    return f"PostgreSQL {parsed.render_as_string(hide_password=True)}"


def _reached(settings: Settings) -> str:
    """`database at revision ID` after an upgrade or downgrade: the revision id the database holds now."""
    state = _schema_state(settings)
    if state.revision is None:
        return "database at revision base (no schema)"
    return f"database at revision {state.revision}" + (" (head)" if state.ok else f" (head is {state.head})")


def _run(coroutine_factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(coroutine_factory())


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Create or migrate the schema to the latest (or given) revision."""
    from loyalty import migrate

    settings = _settings()
    migrate.upgrade(settings.database_url, revision)
    typer.echo(_reached(settings), err=True)


@db_app.command("downgrade")
def db_downgrade(
    revision: str = typer.Argument("-1", help="Target revision; 'base' removes every table."),
) -> None:
    """Step the schema back (by default one revision)."""
    from loyalty import migrate

    settings = _settings()
    migrate.downgrade(settings.database_url, revision)
    typer.echo(_reached(settings), err=True)


@db_app.command("rebuild-totals")
def db_rebuild_totals() -> None:
    """Recompute every vendor's running totals from its cards and ledger (after loading data with SQL)."""
    settings = _settings()

    async def rebuild() -> int:
        database = Database.from_url(settings.database_url)
        try:
            async with database.unit_of_work() as session:
                return await totals.rebuild(session)
        finally:
            await database.dispose()

    typer.echo(f"totals rebuilt for {_run(rebuild)} vendors", err=True)


@db_app.command("purge")
def db_purge() -> None:
    """Delete what is kept only for a while and is now due: expired Idempotency-Key answers and past
    rate-limit windows (`loyalty serve` also does this every LOYALTY_HOUSEKEEPING_INTERVAL_SECONDS)."""
    from loyalty.housekeeping import purge_once

    settings = _settings()

    async def purge() -> str:
        database = Database.from_settings(settings)
        try:
            purged = await purge_once(database, settings, SystemClock())
        finally:
            await database.dispose()
        records, buckets = purged.idempotency_records, purged.rate_limit_buckets
        return f"purged {records} idempotency records and {buckets} rate-limit buckets"

    typer.echo(_run(purge), err=True)


@keys_app.command("create-admin")
def create_admin(name: str = typer.Option(..., "--name", help="Who or what will use the key.")) -> None:
    """Create an admin API key and print it alone on stdout (it is shown only this once)."""
    settings = _settings()

    async def create() -> str:
        database = Database.from_url(settings.database_url)
        try:
            async with database.unit_of_work() as session:
                issued = await api_keys.create_admin_key(Context(session, settings, SystemClock()), name)
                return issued.secret
        finally:
            await database.dispose()

    typer.echo(_run(create))


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="TCP port."),
    workers: int = typer.Option(1, min=1, help="Worker processes (one per core; see docs/operations.md)."),
    migrate_first: bool = typer.Option(False, "--migrate", help="Run `db upgrade` before serving."),
) -> None:
    """Run the HTTP API with uvicorn.

    SIGTERM (or Ctrl+C) stops it gracefully: no new connections are served,
    the requests in flight finish and answer, and it exits with status 0.
    Requests still running after LOYALTY_SHUTDOWN_GRACE_SECONDS (30) are
    cancelled and roll back. With --workers N, every worker stops so.
    """
    import signal

    import uvicorn

    from loyalty import migrate

    settings = _settings()
    _require_free_port(host, port)
    _require_working_wallets(settings)
    if migrate_first:
        migrate.upgrade(settings.database_url)
    _require_current_schema(settings)

    def exit_cleanly(_signal: int, _frame: object) -> None:
        raise SystemExit(0)

    # uvicorn drains on SIGTERM, then raises SIGTERM again against the handler it found at start-up.
    # Under Python's default that ends the process by the signal (status 143, -15 to a parent), which
    # a process manager may read as a failed stop: this handler makes it, and a SIGTERM that comes
    # before uvicorn's own handler is in place, exit status 0. (With --workers N the supervisor
    # replaces this handler with its own, passes SIGTERM on to the workers and exits 0 itself.)
    signal.signal(signal.SIGTERM, exit_cleanly)
    uvicorn.run(
        "loyalty.app:create_app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level.lower(),
        access_log=False,  # the app logs one structured line per request itself
        proxy_headers=False,  # the app reads X-Forwarded-For itself, from LOYALTY_TRUSTED_PROXIES only
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
    )


def _require_free_port(host: str, port: int) -> None:
    """Bind the address once, as uvicorn will (SO_REUSEADDR), so a port in use is one line, not
    uvicorn's log and exit."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise CliError(
            f"cannot listen on {host}:{port}: {reason} (another server there? choose another --port)"
        ) from exc


def _require_current_schema(settings: Settings) -> None:
    """Refuse to serve a database whose schema is not the code's migration head: every request
    would fail. One look at `alembic_version` at start-up; /health keeps looking after that."""
    state = _schema_state(settings)
    if not state.ok:
        raise CliError(state.advice())


def _schema_state(settings: Settings) -> SchemaState:
    """The database's migration revision against the code's head (`migrate.SchemaState`)."""
    from loyalty import migrate

    async def read() -> migrate.SchemaState:
        database = Database.from_url(settings.database_url)
        try:
            async with database.engine.connect() as connection:
                return await migrate.schema_state(connection)
        finally:
            await database.dispose()

    return _run(read)


def _require_working_wallets(settings: Settings) -> None:
    """Refuse to serve passes no device would accept: every problem of the wallet set-up, one line each."""
    from loyalty.wallet.apple import passes
    from loyalty.wallet.apple.credentials import AppleWalletMisconfigured
    from loyalty.wallet.google import issuer
    from loyalty.wallet.google.credentials import GoogleWalletMisconfigured

    problems = []
    try:
        passes.load_checked(settings, SystemClock().now())
    except AppleWalletMisconfigured as exc:
        problems += [f"Apple Wallet: {problem}" for problem in exc.problems]
    try:
        issuer.load_checked(settings)
    except GoogleWalletMisconfigured as exc:
        problems += [f"Google Wallet: {problem}" for problem in exc.problems]
    if problems:
        raise CliError("\n".join(problems))


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


@app.command()
def worker() -> None:
    """Drain the wallet outbox: push each changed pass to the devices that hold it (APNs).

    Run as many as you like, on any machines: they share the work and never send one row twice at
    once. SIGTERM (or Ctrl+C) stops it after the row in hand; it exits 0. One JSON log line per push.
    """
    import logging

    from loyalty.worker import run_worker

    settings = _settings()
    _require_working_wallets(settings)
    _require_current_schema(settings)
    logging.basicConfig(level=settings.log_level.upper(), format="%(message)s")
    _run(lambda: run_worker(settings))


NOT_A_DEMO_FLAG = "--i-know-this-is-not-a-demo-database"


@app.command()
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
    typer.echo(
        f"""
Loyalty demo ready on {describe_database(database_url)}.
  API docs        {base}/docs
  Health          {base}/api/v1/loyalty/health
  Enrolment pages {base}/join/{summary.cafe_slug}
                  {base}/join/{summary.bakery_slug}
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


def main() -> None:
    _silence_closed_loop_in_worker_threads()
    try:
        app()
    except CliError as exc:
        _fail(str(exc))
    except DatabaseUrlError as exc:
        _fail(str(exc))
    except (OperationalError, DBAPIError, OSError) as exc:
        line = _first_line(exc)
        if _is_missing_table(line):
            _fail(f"the database has no schema yet ({line}); run `loyalty db upgrade` first")
        _fail(f"cannot reach the database: {line}")


def _is_missing_table(line: str) -> bool:
    return "no such table" in line or (line.startswith("relation ") and line.endswith("does not exist"))


def _silence_closed_loop_in_worker_threads() -> None:
    """After a failed SQLite connection, aiosqlite's worker thread may answer once `asyncio.run` has
    closed its loop (omnilib/aiosqlite#241) and print a thread traceback under our one-line error."""
    default_hook = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        if isinstance(args.exc_value, RuntimeError) and str(args.exc_value) == "Event loop is closed":
            return
        default_hook(args)

    threading.excepthook = hook


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _fail(message: str) -> None:
    for line in message.splitlines():
        typer.echo(f"loyalty: error: {line}", err=True)
    sys.exit(1)
