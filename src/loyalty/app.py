"""The FastAPI application: routers per audience, one error envelope, one log line per request."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from loyalty import __version__
from loyalty.api.auth_failures import RefusedAddresses
from loyalty.api.errors import install_error_handlers
from loyalty.api.key_holders import WATCHED_TABLES, KeyHolders
from loyalty.api.limits import RequestLimitsMiddleware
from loyalty.api.middleware import RequestLogMiddleware
from loyalty.api.routes import include_routers
from loyalty.clock import Clock, SystemClock
from loyalty.config import DEV_SECRET_KEY, Settings
from loyalty.db import Database
from loyalty.housekeeping import run_forever as run_housekeeping
from loyalty.wallet.apple import passes as apple_passes
from loyalty.wallet.apple.passes import ApplePasses
from loyalty.wallet.google import issuer as google_issuer
from loyalty.wallet.google.issuer import GoogleIssuer
from loyalty.web import accounts as account_pages
from loyalty.web import admin as admin_pages
from loyalty.web import admin_vendors as admin_vendor_pages
from loyalty.web import admin_wallet as admin_wallet_pages
from loyalty.web import cards as card_pages
from loyalty.web import customer as customer_pages
from loyalty.web import dashboard as dashboard_pages
from loyalty.web import ledger as ledger_pages
from loyalty.web import password as password_pages
from loyalty.web import poster as poster_pages
from loyalty.web import program as program_pages
from loyalty.web import staff as staff_pages
from loyalty.web import terminal as terminal_pages
from loyalty.web import terminal_api
from loyalty.web import users as user_pages
from loyalty.web.rendering import BADGES_URL, STATIC_DIR, STATIC_URL

# Swagger UI's and ReDoc's files, served by the service itself (FastAPI's defaults load them from a CDN,
# so /docs was blank on a laptop without internet or inside a shop's network). fastapi-offline ships them.
DOCS_ASSETS_URL = "/docs-assets"
DOCS_ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"

OPENAPI_TAGS = [
    {"name": "admin", "description": "Platform administration (admin API keys)."},
    {
        "name": "vendor",
        "description": "A vendor's programme, staff, cards and counter operations (vendor keys).",
    },
    {"name": "public", "description": "Customer-facing enrolment and card pages (no key)."},
    {
        "name": "apple wallet",
        "description": "Apple's PassKit web service, called by Wallet on the devices that hold a pass "
        "(`ApplePass` authentication token; docs/wallet.md).",
    },
    {
        "name": "wallet pictures",
        "description": "The public, immutable pictures Google Wallet shows: a stamp row, a programme logo.",
    },
]


def create_app(settings: Settings, *, clock: Clock | None = None, database: Database | None = None) -> FastAPI:
    database = database or Database.from_settings(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        housekeeping = asyncio.create_task(run_housekeeping(database, settings, app.state.clock))
        listening = asyncio.create_task(app.state.key_holders.listen())
        yield
        for task in (housekeeping, listening):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):  # a task's failure must not stop dispose
                await task
        await database.dispose()

    app = FastAPI(
        title="Loyalty",
        version=__version__,
        description="Stamp cards and points programmes for small vendors, with anti-fraud built in.",
        openapi_tags=OPENAPI_TAGS,
        lifespan=lifespan,
        docs_url=None,  # served by `_serve_docs_offline`, from our own files
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.database = database
    app.state.clock = clock or SystemClock()
    app.state.refused_addresses = RefusedAddresses()
    app.state.pin_checks = asyncio.Semaphore(settings.pin_checks_at_once)  # api/unit_of_work.py
    app.state.key_holders = KeyHolders(
        database.listen_args() if settings.key_cache_seconds else None, settings.key_cache_seconds
    )
    database.watch_commits(WATCHED_TABLES, app.state.key_holders.forget_all)  # this worker's own changes, at once
    app.state.apple_passes = _apple_wallet(settings, app.state.clock)
    app.state.google_issuer = _google_wallet(settings)
    install_error_handlers(app)
    include_routers(app)
    app.include_router(customer_pages.router)
    app.include_router(terminal_pages.router)
    app.include_router(terminal_api.router)
    app.include_router(account_pages.router)
    app.include_router(dashboard_pages.router)
    app.include_router(ledger_pages.router)
    app.include_router(card_pages.router)
    app.include_router(staff_pages.router)
    app.include_router(program_pages.router)
    app.include_router(user_pages.router)
    app.include_router(password_pages.router)
    app.include_router(poster_pages.router)
    app.include_router(admin_pages.router)
    app.include_router(admin_vendor_pages.router)
    app.include_router(admin_wallet_pages.router)
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="static")
    if settings.wallet_badges_dir is not None:  # the operator's copy of Apple's and Google's artwork
        app.mount(BADGES_URL, StaticFiles(directory=settings.wallet_badges_dir), name="badges")
    _serve_docs_offline(app)
    app.add_middleware(RequestLimitsMiddleware, settings=settings)
    if settings.trust_forwarded_for:
        # uvicorn's middleware: the client is the right-most X-Forwarded-For address that is not one of
        # our proxies, never the left end, which the client writes itself (docs/operations.md).
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    app.add_middleware(RequestLogMiddleware)  # the outermost: it logs what the limits refuse too
    return app


def _apple_wallet(settings: Settings, clock: Clock) -> ApplePasses | None:
    """Apple Wallet loaded and checked (None when not configured); its warnings logged once.
    Raises AppleWalletMisconfigured (one line per problem) rather than sign passes no device accepts."""
    passes, findings = apple_passes.load_checked(settings, clock.now())
    for finding in findings:
        logging.getLogger("loyalty.wallet").warning("Apple Wallet: %s", finding.message)
    return passes


def _google_wallet(settings: Settings) -> GoogleIssuer | None:
    """Google Wallet loaded and checked (None when not configured); its warnings logged once.
    Raises GoogleWalletMisconfigured (one line per problem)."""
    issuer, findings = google_issuer.load_checked(settings)
    for finding in findings:
        logging.getLogger("loyalty.wallet").warning("Google Wallet: %s", finding.message)
    return issuer


def _serve_docs_offline(app: FastAPI) -> None:
    """`/docs` (Swagger UI) and `/redoc`, FastAPI's documented way ("Custom Docs UI Static Assets"):
    every script, style sheet and icon they load is under `DOCS_ASSETS_URL`, none from the internet
    (ReDoc's Google fonts are left out: the browser's own fonts serve)."""
    app.mount(DOCS_ASSETS_URL, StaticFiles(directory=DOCS_ASSETS_DIR), name="docs-assets")
    favicon = f"{DOCS_ASSETS_URL}/favicon.png"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{favicon}",
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{DOCS_ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{favicon}",
            with_google_fonts=False,
        )


def create_app_from_environment() -> FastAPI:
    """The factory `loyalty serve` hands to uvicorn (each worker process builds its own app)."""
    settings = Settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(message)s")
    if settings.secret_key == DEV_SECRET_KEY:
        logging.getLogger("loyalty").warning("LOYALTY_SECRET_KEY is the development default: set your own secret")
    app = create_app(settings)
    _freeze_startup_objects()
    return app


def _freeze_startup_objects() -> None:
    """Move everything alive after start-up (modules, models, routes: about 120,000 objects, kept for the
    process's life) out of the garbage collector's reach. Otherwise every full collection walks them
    all, about 90 ms on the reference machine, and each stalls the requests in flight: it was the
    benchmark's worst latency at half load. Garbage made later is collected as usual."""
    gc.collect()
    gc.freeze()
