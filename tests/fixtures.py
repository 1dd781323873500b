"""Every shared fixture, in one module that tests/conftest.py registers (`pytest_plugins`).

- `database_url`: parametrised over PostgreSQL and SQLite, so every test using it runs on both.
  `pg_database_url` is PostgreSQL only (row locks, the append-only trigger, concurrency).
- Each backend is created and migrated once per run; every table of the models' metadata is emptied
  before each test (`empty_tables`: no hand-kept list, a new table cannot be forgotten).
- `clock` is a FixedClock every service and the app read, so tests can stand at any instant.
- `settings` uses bcrypt cost 4: tests check behaviour, not the cost of hashing.
- `app` and `client`: the app on the test database, and an httpx client talking to it in process.
- `tenant`, `other_tenant`: two vendors seeded through the services (tests/tenants.py); `caller`,
  `other_caller`: their terminals calling services directly (tests/services/helpers.py).
- Every test's log, at production's level (INFO) and including tracebacks, is scanned for secrets
  (`_no_secret_in_the_log`): a test whose log holds one fails, whatever it asserted itself.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text

from loyalty import migrate
from loyalty.app import create_app
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.db import Database, is_postgres
from loyalty.models import Base, WalletOutbox
from loyalty.services import api_keys
from loyalty.services.context import Context
from loyalty.sqlalchemy_internals import asyncpg_connection
from loyalty.wallet.dev_certs import (
    DEV_GOOGLE_ISSUER_ID,
    DEV_GOOGLE_SERVICE_ACCOUNT,
    DEV_PASS_TYPE_ID,
    DEV_TEAM_ID,
    DevCertificatePaths,
    write_dev_certificates,
)
from loyalty.worker import Worker
from tests import databases
from tests.google_peer import GooglePeer, google_peer
from tests.services.helpers import Caller, caller_for
from tests.smtp_peer import SmtpPeer, smtp_peer
from tests.tenants import Tenant, make_tenant

START = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)  # a Saturday, 10:00 in Luxembourg


# What a secret looks like in this service; none may ever be written to a log (docs/operations.md).
SECRET_PATTERNS = {
    "API key": re.compile(r"lyk_(?:live|admin)_[A-Za-z0-9_\-]{20,}"),
    "bcrypt hash": re.compile(r"\$2[aby]\$\d\d\$"),
    "SHA-256 (key hash, PIN fingerprint)": re.compile(r"\b[0-9a-f]{64}\b"),
    "e-mail address": re.compile(r"[A-Za-z0-9._%+\-]+@example\.(?:com|org|net)"),
    # wallet pass authentication tokens: 43 URL-safe characters (services/card_numbers.py)
    "pass authentication token": re.compile(r"(?<![A-Za-z0-9_\-])[A-Za-z0-9_\-]{43}(?![A-Za-z0-9_\-])"),
    # card tokens and QR payloads: 32 URL-safe characters, not a request id's lowercase hex
    "card token or QR code": re.compile(
        r"(?<![A-Za-z0-9_\-])(?![0-9a-f]{32}(?![A-Za-z0-9_\-]))[A-Za-z0-9_\-]{32}(?![A-Za-z0-9_\-])"
    ),
}


class _LogScanner(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.leaks: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("httpx"):
            return  # the test's own HTTP client, not the service
        text = self.format(record)
        self.leaks += [f"{kind} in: {text[:300]}" for kind, pattern in SECRET_PATTERNS.items() if pattern.search(text)]


@pytest.fixture(autouse=True)
def _no_secret_in_the_log() -> Iterator[None]:
    root = logging.getLogger()
    scanner, level = _LogScanner(), root.level
    root.addHandler(scanner)
    root.setLevel(min(level, logging.INFO))
    try:
        yield
    finally:
        root.removeHandler(scanner)
        root.setLevel(level)
    assert scanner.leaks == [], "secrets reached the log:\n" + "\n".join(scanner.leaks)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


# --- databases --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _postgres_url() -> Iterator[str]:
    reason = databases.postgres_unreachable_reason()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required under CI=true: {reason}")
        pytest.skip(f"PostgreSQL tests skipped: {reason}")
    url = databases.create_postgres_database()
    migrate.upgrade(url)
    yield url
    databases.drop_postgres_database(url)


@pytest.fixture(scope="session")
def _sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = databases.sqlite_database(Path(tmp_path_factory.mktemp("sqlite")))
    migrate.upgrade(url)
    return url


@pytest.fixture(params=["postgresql", "sqlite"])
def database_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue("_postgres_url" if request.param == "postgresql" else "_sqlite_url")
    return url


@pytest.fixture
def pg_database_url(_postgres_url: str) -> str:
    return _postgres_url


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return test_settings(database_url)


def test_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "bcrypt_rounds": 4,
        "secret_key": "test-secret-key-0123456789",
    }  # the pool is production's (Settings' defaults): a second checkout must fail here, not in an outage
    values.update(overrides)
    return Settings(**values)


test_settings.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


async def empty_tables(database: Database) -> None:
    """Empties every table the models define (the migrated schema has exactly those, tests/test_migrations.py),
    children before parents, and restarts the sequences they own: what TRUNCATE ... RESTART IDENTITY leaves.

    On PostgreSQL that is one implicit transaction (a multi-statement simple query: all or nothing) that
    deletes with the tables' own triggers disabled, the ledger's append-only one among them, and enables them
    again before it commits. TRUNCATE took ~0.25 s a test on a 2-core machine (a new file for every table and
    index), over two minutes of the suite; this takes a few milliseconds, and needs no more privilege than
    the migrations did (owning the tables)."""
    tables = [table.name for table in reversed(Base.metadata.sorted_tables)]
    if is_postgres(database.engine):
        owners = ", ".join(f"'{table}'::regclass" for table in tables)
        async with database.engine.connect() as connection:
            await asyncpg_connection(connection).execute(
                "".join(f"ALTER TABLE {table} DISABLE TRIGGER USER;" for table in tables)
                + "".join(f"DELETE FROM {table};" for table in tables)
                + "".join(f"ALTER TABLE {table} ENABLE TRIGGER USER;" for table in tables)
                + "SELECT setval(d.objid::regclass, s.seqstart, false) FROM pg_depend d"
                " JOIN pg_sequence s ON s.seqrelid = d.objid"
                " WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass"
                f" AND d.deptype IN ('a', 'i') AND d.refobjid IN ({owners})"
            )
        return
    async with database.engine.begin() as connection:
        for table in tables:
            await connection.execute(text(f"DELETE FROM {table}"))


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    db = Database.from_settings(settings)
    await empty_tables(db)
    yield db
    await db.dispose()


@pytest.fixture
def pg_settings(pg_database_url: str) -> Settings:
    """The test settings on PostgreSQL, for the tests that only make sense there (races, NOTIFY, pools)."""
    return test_settings(pg_database_url)


@pytest.fixture
async def pg_database(pg_settings: Settings) -> AsyncIterator[Database]:
    db = Database.from_settings(pg_settings)
    await empty_tables(db)
    yield db
    await db.dispose()


# --- the app ----------------------------------------------------------------------------------------


@pytest.fixture
def app(settings: Settings, clock: FixedClock, database: Database) -> FastAPI:
    return create_app(settings, clock=clock, database=database)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.fixture
async def admin_key(database: Database, settings: Settings, clock: FixedClock) -> str:
    async with database.unit_of_work() as session:
        issued = await api_keys.create_admin_key(Context(session, settings, clock), "test admin")
        return issued.secret


# --- tenants ----------------------------------------------------------------------------------------


@pytest.fixture
async def tenant(database: Database, settings: Settings, clock: FixedClock) -> Tenant:
    """A hybrid programme: 3 stamps for the reward, cooldown 15 min, 5 a day, PIN "1234" required,
    1 point per euro, no rewards in the catalogue."""
    return await make_tenant(database, settings, clock, slug="cafe-one")


@pytest.fixture
async def other_tenant(database: Database, settings: Settings, clock: FixedClock) -> Tenant:
    return await make_tenant(database, settings, clock, slug="bakery-two", pin="9876", email="other@example.com")


@pytest.fixture
async def caller(database: Database, settings: Settings, clock: FixedClock, tenant: Tenant) -> Caller:
    """`tenant`'s terminal: each service call in its own unit of work, like one API request."""
    return await caller_for(database, settings, clock, tenant)


@pytest.fixture
async def other_caller(database: Database, settings: Settings, clock: FixedClock, other_tenant: Tenant) -> Caller:
    return await caller_for(database, settings, clock, other_tenant)


# --- wallets ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DevWallet:
    """Development wallet certificates (`loyalty wallet dev-certs`), valid from before START until a
    year from today, and the settings that use them."""

    paths: DevCertificatePaths

    @property
    def settings(self) -> dict[str, Any]:
        return {
            "apple_pass_type_id": DEV_PASS_TYPE_ID,
            "apple_team_id": DEV_TEAM_ID,
            "apple_cert": self.paths.pass_certificate,
            "apple_key": self.paths.pass_key,
            "apple_wwdr_cert": self.paths.wwdr_certificate,
            "public_base_url": "http://127.0.0.1:8000",
        }

    @property
    def ca_file(self) -> Path:
        """The root and the WWDR stand-in in one file, as `openssl cms -verify -CAfile` takes them."""
        bundle = self.paths.root_certificate.parent / "ca-bundle.pem"
        if not bundle.exists():
            bundle.write_bytes(self.paths.root_certificate.read_bytes() + self.paths.wwdr_certificate.read_bytes())
        return bundle


@pytest.fixture(scope="session")
def dev_wallet(tmp_path_factory: pytest.TempPathFactory) -> DevWallet:
    directory = tmp_path_factory.mktemp("wallet")
    return DevWallet(
        write_dev_certificates(
            directory, now=START - timedelta(days=1), leaf_expires_at=datetime.now(UTC) + timedelta(days=365)
        )
    )


@pytest.fixture
def apple_settings(database_url: str, dev_wallet: DevWallet) -> Settings:
    """`settings` with Apple Wallet configured on the development certificates."""
    return test_settings(database_url, **dev_wallet.settings)


async def drain(worker: Worker, clock: FixedClock) -> None:
    """Runs the worker until nothing is due, the clock moved past the coalescing delay first."""
    clock.advance(timedelta(seconds=3))
    while await worker.run_once():
        pass


async def outbox_rows(database: Database) -> list[WalletOutbox]:
    """Every outbox row, oldest first."""
    async with database.unit_of_work() as session:
        return list(await session.scalars(select(WalletOutbox).order_by(WalletOutbox.id)))


@dataclass(frozen=True)
class DevGoogle:
    """The local Google peer (tests/google_peer.py) and the development service-account key pointed at it."""

    peer: GooglePeer
    key_file: Path
    certificate: bytes

    @property
    def settings(self) -> dict[str, Any]:
        return {
            "google_issuer_id": DEV_GOOGLE_ISSUER_ID,
            "google_service_account_file": self.key_file,
            "google_api_url": self.peer.url,
            "public_base_url": "http://127.0.0.1:8000",
        }


@pytest.fixture(scope="session")
def dev_google(dev_wallet: DevWallet) -> Iterator[DevGoogle]:
    """One peer for the session; a copy of the development key whose `token_uri` is the peer's."""
    certificate = dev_wallet.paths.google_certificate.read_bytes()
    with google_peer(certificate, DEV_GOOGLE_SERVICE_ACCOUNT) as peer:
        key = json.loads(dev_wallet.paths.google_service_account.read_text())
        key_file = dev_wallet.paths.google_service_account.with_name("google-peer-key.json")
        key_file.write_text(json.dumps({**key, "token_uri": peer.token_uri}))
        yield DevGoogle(peer, key_file, certificate)


@pytest.fixture
def google(dev_google: DevGoogle) -> Iterator[DevGoogle]:
    """The peer, forgotten before the test; after it, every body it received conformed to the discovery
    document and no notice went past Google's budget."""
    dev_google.peer.reset()
    yield dev_google
    assert dev_google.peer.invalid == []
    assert dev_google.peer.quota_refusals == []


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpPeer]:
    """A local SMTP server (aiosmtpd, tests/smtp_peer.py) for a module's tests: a module's `settings` points
    LOYALTY_SMTP_URL at it and calls `smtp.reset()`, so each test reads only its own mail."""
    with smtp_peer() as peer:
        yield peer


@pytest.fixture
def mail_settings(database_url: str, smtp: SmtpPeer, tmp_path: Path) -> Settings:
    """`settings` whose mail goes to the `smtp` peer (its inbox emptied first), the mail folder in tmp_path:
    a module that sends mail makes it its `settings`."""
    smtp.reset()
    return test_settings(database_url, smtp_url=smtp.url, mail_dir=tmp_path / "mail")
