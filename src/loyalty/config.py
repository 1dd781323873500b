"""Service settings, read from `LOYALTY_*` environment variables (and a `.env` file, if present).

Every setting is listed, with its default and meaning, in the README's configuration table.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from loyalty.clock import require_iana_zone
from loyalty.db import DatabaseUrlError, async_url

DEFAULT_TIMEZONE = "Europe/Luxembourg"
DEV_SECRET_KEY = "dev-insecure-secret-change-me"
# The levels both Python's logging and uvicorn's --log-level know.
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def usable_database_url(url: str) -> str:
    """`url` itself, once it is known to be usable: postgresql://… or sqlite:///path (`loyalty.db.async_url`
    refuses any other), and a SQLite URL names a file. `sqlite://loyalty.db` (two slashes) names a host
    and no file, and `sqlite://` or `sqlite:///:memory:` a database that vanishes with its connection."""
    async_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and (parsed.host or parsed.database in (None, "", ":memory:")):
        raise DatabaseUrlError(
            f"LOYALTY_DATABASE_URL must name a SQLite file: sqlite:///relative/path or sqlite:////absolute/path;"
            f" got {url!r}"
        )
    return url


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOYALTY_", env_file=".env", extra="ignore")

    database_url: str = Field(
        "sqlite:///./loyalty.db",
        description="postgresql://user@host:port/db or sqlite:///path; the async driver is picked for you.",
    )
    # A few busy connections per core serve more than many: past that, PostgreSQL's backends only contend
    # for the CPUs, and a connection opened for a burst costs a backend start (docs/operations.md).
    db_pool_size: int = Field(8, ge=1, description="PostgreSQL connections kept open per process.")
    db_max_overflow: int = Field(
        0, ge=0, description="Extra PostgreSQL connections a process may open for a burst, closed after it."
    )
    db_pool_timeout_seconds: float = Field(
        5,
        gt=0,
        le=60,
        description="How long a request waits for a free connection before it answers 503 SERVICE_UNAVAILABLE.",
    )
    db_echo: bool = Field(False, description="Log every SQL statement (debugging only).")
    pin_checks_at_once: int = Field(
        2,
        ge=1,
        le=64,
        description="Requests carrying a staff PIN that a worker serves at once (each costs a bcrypt check); the "
        "others wait for their turn before they take a database connection.",
    )
    key_cache_seconds: float = Field(
        60,
        ge=0,
        le=3600,
        description="PostgreSQL: how long a worker keeps a caller it identified by API key, at most; a change to "
        "the key, its vendor or its programme drops it at once (NOTIFY). 0: look every key up.",
    )

    secret_key: str = Field(
        DEV_SECRET_KEY,
        min_length=16,
        description="Server secret: keys the PIN lookup fingerprint. Set your own in production.",
    )
    bcrypt_rounds: int = Field(12, ge=4, le=16, description="bcrypt cost factor for staff PINs.")
    pin_max_attempts: int = Field(5, ge=1, description="Failed PIN checks before a lockout.")
    pin_lockout_minutes: int = Field(30, ge=1, description="How long a lockout lasts.")

    default_timezone: str = Field(DEFAULT_TIMEZONE, description="Timezone of new vendors without one.")
    idempotency_ttl_hours: int = Field(48, ge=24, description="How long Idempotency-Key answers are kept.")
    housekeeping_interval_seconds: int = Field(
        600,
        ge=10,
        description="How often each server process purges expired Idempotency-Key answers and rate-limit buckets.",
    )
    idempotency_max_answer_bytes: int = Field(
        16_384, ge=1_024, description="Largest stored Idempotency-Key answer (compressed); a larger one is not kept."
    )
    enroll_rate_limit: int = Field(10, ge=1, description="Public enrolments per client IP per window.")
    enroll_rate_window_seconds: int = Field(60, ge=1, description="Window of the enrolment rate limit.")
    pairing_attempt_limit: int = Field(
        5, ge=1, description="Wrong terminal pairing codes a client IP may type per 10 minutes (then 429)."
    )
    terminal_session_days: int = Field(
        90, ge=1, description="A paired terminal's session ends after this many days unused (each use restarts it)."
    )
    auth_failure_limit: int = Field(
        20, ge=1, description="Wrong API keys a client address may send per window before it is refused (429)."
    )
    auth_failure_window_seconds: int = Field(300, ge=1, description="Window of the wrong-key limit.")
    trust_forwarded_for: bool = Field(
        False, description="Take the client IP from X-Forwarded-For, as appended by LOYALTY_TRUSTED_PROXIES."
    )
    trusted_proxies: str = Field(
        "127.0.0.1,::1",
        description="Comma-separated addresses or networks (CIDR) of the reverse proxies in front of the service: "
        "the client is the right-most X-Forwarded-For address that is not one of them.",
    )

    # Request limits (docs/operations.md, "Security"): checked before a body is parsed or a connection taken.
    max_body_bytes: int = Field(
        65_536, ge=1_024, description="Largest request body accepted (413 PAYLOAD_TOO_LARGE past it)."
    )
    body_timeout_seconds: float = Field(
        10, gt=0, le=300, description="Time a client has to send the whole body (408 REQUEST_TIMEOUT after it)."
    )
    max_header_bytes: int = Field(
        16_384, ge=1_024, description="Largest total size of a request's header names and values (431 past it)."
    )
    max_headers: int = Field(100, ge=10, description="Most header lines a request may carry (431 past it).")

    # Wallets (docs/wallet.md, ../shared/WALLET.md "Configuration"): a wallet is configured when its
    # identifier is set; its files are then loaded and checked at start-up and by `loyalty wallet doctor`.
    public_base_url: str = Field(
        "http://127.0.0.1:8000",
        description="Origin the passes and pages link to; https, or http on 127.0.0.1/localhost in development.",
    )
    apple_pass_type_id: str = Field("", description="Apple Pass Type ID (pass.com.example.loyalty); empty: no Apple.")
    apple_team_id: str = Field("", description="Apple Developer Team ID of the pass type.")
    apple_cert: Path | None = Field(None, description="Pass Type ID certificate, PEM or DER (or use apple_p12).")
    apple_key: Path | None = Field(None, description="Its private key, PEM.")
    apple_key_password: str | None = Field(None, description="Password of apple_key, if it is encrypted.")
    apple_p12: Path | None = Field(None, description="Certificate and key as one PKCS#12 file, instead of the two.")
    apple_p12_password: str | None = Field(None, description="Password of apple_p12.")
    apns_url: str = Field(
        "https://api.push.apple.com",
        description="APNs origin. Pass updates work only in production, so there is no sandbox: change it only "
        "for a local test peer.",
    )
    apns_auth: Literal["certificate", "token"] = Field(
        "certificate", description="How the worker authenticates to APNs: the pass certificate, or a provider token."
    )
    apns_key_file: Path | None = Field(None, description="Token auth only: the .p8 key, of the pass type's team.")
    apns_key_id: str = Field("", description="Token auth only: the key's id (the JWT's kid).")
    apns_ca_file: Path | None = Field(None, description="Test only: trust the local APNs peer's certificate.")
    apns_dry_run: bool = Field(
        False, description="Log each push instead of sending it (the demo, whose certificates Apple would refuse)."
    )
    wallet_badges_dir: Path | None = Field(
        None,
        description="A folder holding Apple's and Google's official button artwork (apple-wallet.svg, "
        "google-wallet.svg), which their guidelines require and neither publishes on npm or PyPI; without it "
        "the card page shows plain text buttons.",
    )
    smtp_url: str = Field(
        "",
        description="Where `loyalty worker` sends mail: smtp://[user:password@]host[:port] (STARTTLS when the "
        "server offers it) or smtps://… (TLS from the start); empty: mails are written to mail_dir instead.",
    )
    mail_from: str = Field("Loyalty <no-reply@localhost>", description="The From of every e-mail.")
    mail_dir: Path = Field(
        Path(".loyalty-dev/mail"), description="Without smtp_url: the folder mails are written to (.eml files)."
    )
    worker_batch_size: int = Field(50, ge=1, le=1000, description="Outbox rows a worker claims at once.")
    worker_idle_seconds: float = Field(
        0.5, gt=0, le=60, description="How long a worker waits before looking again when nothing was due."
    )
    outbox_max_attempts: int = Field(
        8, ge=1, le=50, description="Failed sends before an outbox row is parked for the admin (about an hour at 8)."
    )
    outbox_sent_retention_hours: int = Field(
        24, ge=1, description="How long sent outbox rows are kept for the statistics before housekeeping deletes them."
    )
    apple_wwdr_cert: Path | None = Field(
        None, description="The Apple WWDR intermediate that issued the pass certificate (G4 since 2022)."
    )
    google_issuer_id: str = Field("", description="Google Wallet issuer id (digits); empty: no Google Wallet.")
    google_service_account_file: Path | None = Field(
        None, description="The service account's JSON key; its token_uri is honoured (tests point it at a local peer)."
    )
    google_api_url: str = Field(
        "https://walletobjects.googleapis.com",
        description="Google Wallet API origin: change it only for a local test peer.",
    )
    google_origins: str = Field(
        "",
        description="Comma-separated origins of the pages that show the Save to Google Wallet button "
        "(default: the origin of public_base_url).",
    )
    google_dry_run: bool = Field(
        False, description="Log each Google Wallet call instead of making it (the demo, whose key Google would refuse)."
    )

    shutdown_grace_seconds: int = Field(
        30,
        ge=1,
        description="On SIGTERM, how long requests in flight may take to finish before the worker exits.",
    )

    log_level: str = Field("INFO", description=f"Python logging level: one of {', '.join(LOG_LEVELS)}.")

    @property
    def apple_wallet_configured(self) -> bool:
        return bool(self.apple_pass_type_id.strip())

    @property
    def google_wallet_configured(self) -> bool:
        return bool(self.google_issuer_id.strip())

    @property
    def google_origin_list(self) -> list[str]:
        """The `origins` claim of the save links: LOYALTY_GOOGLE_ORIGINS, else the public base URL's origin."""
        given = [origin.strip().rstrip("/") for origin in self.google_origins.split(",") if origin.strip()]
        if given:
            return given
        parts = urlsplit(self.public_base_url)
        return [f"{parts.scheme}://{parts.netloc}"]

    @property
    def wallet_provider_list(self) -> list[str]:
        """The wallets whose passes are kept updated through the outbox: those configured."""
        return [
            name
            for name, configured in (("apple", self.apple_wallet_configured), ("google", self.google_wallet_configured))
            if configured
        ]

    @field_validator("default_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        return require_iana_zone(value)

    @field_validator("database_url", mode="before")
    @classmethod
    def _usable_database_url(cls, value: object) -> object:
        """Checked when the settings are read, so every command and the server refuse a URL they
        cannot use in one line, before anything runs. Whitespace around it (a `.env` line's trailing
        space) is dropped: it once named a SQLite file `loyalty.db `."""
        return usable_database_url(value.strip()) if isinstance(value, str) else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _known_log_level(cls, value: object) -> object:
        """Upper-cased; refused unless logging and uvicorn both know it (`verbose` is not a level)."""
        if not isinstance(value, str):
            return value
        level = value.strip().upper()
        if level not in LOG_LEVELS or not isinstance(logging.getLevelName(level), int):
            raise ValueError(f"{value!r} is not a log level; use one of {', '.join(LOG_LEVELS)}")
        return level


@lru_cache
def get_settings() -> Settings:
    return Settings()
