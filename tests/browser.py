"""Tests in a real browser (../shared/PAGES.md, "Tests in a real browser"): fixtures and helpers, registered for
the whole suite by tests/conftest.py (`pytest_plugins`).

Playwright's async API, so a browser test is an anyio test like the rest of the suite and awaits the services
directly (Playwright's sync API would leave its own event loop marked running in the test thread, and every
later `asyncio.run` or anyio test of the session would fail):

    pytestmark = [pytest.mark.anyio, pytest.mark.browser]

    async def test_the_card_page_shows_the_qr(live_app: LiveApp, page: Page) -> None:
        await page.goto(live_app.url(f"/card/{live_app.tenant.card_token}"))
        assert decode_qr(await page.screenshot()) == [live_app.tenant.qr_code]
        await assert_accessible(page)
        await screenshot(page, "card-page")  # docs/screenshots/card-page-360x740.png and -1280x800.png

Fixtures:
- `browser` (session): Debian's Chromium (/usr/bin/chromium) under Playwright; one for the whole run. Without
  it the test is skipped with the reason, except under CI=true, where it fails (as PostgreSQL's fixture does).
- `page` (function): a page in a fresh context (1280×800, service workers blocked so every request goes
  through the route). Each request to a host other than 127.0.0.1 is aborted and recorded in `browser_log`,
  as is each console error and uncaught page error; the test fails at teardown if there is any.
- `browser_log` (function): that record. A test that provokes a console error on purpose (a forced
  network failure) says so first with `browser_log.expect_console_error(regex)`.
- `live_app` (function): the app under uvicorn on 127.0.0.1:<free port> against the PostgreSQL test database,
  every table emptied, one tenant seeded through the services (tests/tenants.py: "cafe-one", PIN "1234");
  its `database` is for the test's own service calls and checks. `live_app_on(url, **settings)` builds one
  with other settings for a fixture of your own.

`guarded_context(browser, browser_log, **options)` opens another context with the same guards (a second
device, another viewport or locale).
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import pytest
import segno
import zxingcpp
from axe_playwright_python.async_playwright import Axe
from PIL import Image
from playwright.async_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Route,
    ViewportSize,
    WebError,
    async_playwright,
)

from loyalty.app import create_app
from loyalty.config import Settings
from loyalty.db import Database
from tests.api.live_server import free_port, serve
from tests.fixtures import empty_tables, test_settings
from tests.tenants import Tenant, make_tenant

CHROMIUM = Path("/usr/bin/chromium")
# PAGES.md: no traffic of the browser's own (updates, sync, field trials), no QUIC, /dev/shm may be small.
CHROMIUM_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
]
DESKTOP = ViewportSize(width=1280, height=800)
PHONE = ViewportSize(width=360, height=740)
SCREENSHOT_SIZES = (PHONE, DESKTOP)
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"  # shown in docs/user-journeys.md
LOCAL_HOST = "127.0.0.1"
# The live tenant's member of staff: a name, not a word of the pages' languages, which the translation checks
# would read as English text left on a French page.
STAFF_NAME = "Mia"
ACTION_TIMEOUT_MS = 10_000
BLOCKING_IMPACTS = ("critical", "serious")


# --- the browser ------------------------------------------------------------------------------------


def chromium_missing_reason() -> str | None:
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} not found (`make browser`, as root, installs Debian's chromium)"
    return None


@asynccontextmanager
async def chromium(*extra_args: str) -> AsyncIterator[Browser]:
    """Debian's Chromium under Playwright with CHROMIUM_ARGS and `extra_args`; the test skips without it
    (fails under CI=true)."""
    reason = chromium_missing_reason()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Chromium is required under CI=true: {reason}")
        pytest.skip(f"browser tests skipped: {reason}")
    args = [*CHROMIUM_ARGS, *extra_args, *(["--no-sandbox"] if os.geteuid() == 0 else [])]  # no sandbox as root
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


@dataclass
class BrowserLog:
    """What the pages of a test did that they must not: requests leaving 127.0.0.1 (aborted before they were
    sent) and console errors (uncaught page errors among them)."""

    external_requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    expected_console_errors: list[re.Pattern[str]] = field(default_factory=list)

    def expect_console_error(self, pattern: str) -> None:
        """Console errors matching `pattern` (re.search) do not fail the test, e.g. Chromium's
        "Failed to load resource: net::ERR_FAILED" of a network failure the test forced."""
        self.expected_console_errors.append(re.compile(pattern))

    def unexpected_console_errors(self) -> list[str]:
        return [
            error
            for error in self.console_errors
            if not any(pattern.search(error) for pattern in self.expected_console_errors)
        ]

    def check(self) -> None:
        problems = [f"request to a host other than {LOCAL_HOST} (aborted): {url}" for url in self.external_requests]
        problems += [f"console error: {error}" for error in self.unexpected_console_errors()]
        assert problems == [], "the browser saw:\n" + "\n".join(problems)


@asynccontextmanager
async def guarded_context(browser: Browser, log: BrowserLog, **options: Any) -> AsyncIterator[BrowserContext]:
    """A new context (1280×800 unless `options` say otherwise; `options` are Browser.new_context's) whose
    requests to any host but 127.0.0.1 are aborted and recorded in `log`, as are its console errors."""

    async def local_only(route: Route) -> None:
        if urlsplit(route.request.url).hostname == LOCAL_HOST:
            await route.continue_()
        else:
            log.external_requests.append(f"{route.request.method} {route.request.url}")
            await route.abort("blockedbyclient")

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            where = message.location
            at = f" ({where['url']}:{where['lineNumber']})" if where["url"] else ""
            log.console_errors.append(f"{message.text}{at}")

    def uncaught(error: WebError) -> None:
        log.console_errors.append(f"uncaught {error.error.name}: {error.error.message}")

    # Service workers blocked: their requests could bypass the route.
    context = await browser.new_context(**{"viewport": DESKTOP, "service_workers": "block", **options})
    try:
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        await context.route("**/*", local_only)
        context.on("console", console)
        context.on("weberror", uncaught)
        yield context
    finally:
        await context.close()


@pytest.fixture
def browser_log() -> BrowserLog:
    return BrowserLog()


@pytest.fixture
async def page(browser: Browser, browser_log: BrowserLog) -> AsyncIterator[Page]:
    async with guarded_context(browser, browser_log) as context:
        yield await context.new_page()
    browser_log.check()  # after the context closed: nothing more can be added


# --- the live server --------------------------------------------------------------------------------


@dataclass
class ShiftedClock:
    """Real time moved forward by `advance` (past a cooldown or a lockout): the app's idea of now stays
    close to the browser's, whose cookies expire in real time."""

    offset: timedelta = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


@dataclass(frozen=True)
class LiveApp:
    base_url: str  # http://127.0.0.1:<port>, also the app's public_base_url
    tenant: Tenant
    settings: Settings
    database: Database  # on the test's event loop (the server has its own)
    clock: ShiftedClock  # the server's and the seeding's

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"


@asynccontextmanager
async def live_app_on(postgres_url: str, **overrides: Any) -> AsyncIterator[LiveApp]:
    """Empties every table, seeds the tenant "cafe-one" and serves the app until the block ends; `overrides`
    are Settings fields over tests.fixtures.test_settings' (public_base_url is always the server's own)."""
    port = free_port()
    base_url = f"http://{LOCAL_HOST}:{port}"
    settings = test_settings(postgres_url, **{**overrides, "public_base_url": base_url})
    clock = ShiftedClock()
    database = Database.from_settings(settings)
    try:
        await empty_tables(database)
        tenant = await make_tenant(database, settings, clock, slug="cafe-one", staff_name=STAFF_NAME)
        with serve(create_app(settings, clock=clock), port):
            yield LiveApp(base_url, tenant, settings, database, clock)
    finally:
        await database.dispose()


@pytest.fixture
async def live_app(pg_database_url: str) -> AsyncIterator[LiveApp]:
    async with live_app_on(pg_database_url) as live:
        yield live


# --- helpers ----------------------------------------------------------------------------------------


async def assert_accessible(page: Page) -> None:
    """axe-core (bundled by axe-playwright-python) on the page as it is now: fails on any serious or
    critical violation, listing each with the elements it was found on."""
    response: dict[str, Any] = (await Axe().run(page)).response
    violations = [v for v in response["violations"] if v.get("impact") in BLOCKING_IMPACTS]
    assert violations == [], (
        f"{page.url}: {len(violations)} serious or critical accessibility violation(s):\n"
        + "\n".join(_describe_violation(v) for v in violations)
    )


def _describe_violation(violation: dict[str, Any]) -> str:
    lines = [f"- [{violation['impact']}] {violation['id']}: {violation['help']} ({violation['helpUrl']})"]
    for node in violation["nodes"]:
        summary = " ".join(str(node.get("failureSummary", "")).split())
        lines.append(f"    at {' '.join(map(str, node['target']))}: {summary}")
    return "\n".join(lines)


async def screenshot(page: Page, name: str, directory: Path = SCREENSHOTS) -> list[Path]:
    """Full-page PNGs of the page at 360×740 and at 1280×800, `<name>-360x740.png` and `<name>-1280x800.png`
    in docs/screenshots/ (for docs/user-journeys.md) unless `directory` says otherwise; the page's own
    viewport is restored after. Returns the two paths."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
        raise ValueError(f"a screenshot name is lowercase letters, digits and hyphens, not {name!r}")
    await anyio.Path(directory).mkdir(parents=True, exist_ok=True)
    viewport = page.viewport_size
    paths = []
    try:
        for size in SCREENSHOT_SIZES:
            await page.set_viewport_size(size)
            path = directory / f"{name}-{size['width']}x{size['height']}.png"
            await page.screenshot(path=path, full_page=True, animations="disabled")
            paths.append(path)
    finally:
        if viewport is not None:
            await page.set_viewport_size(viewport)
    return paths


def decode_qr(png: bytes) -> list[str]:
    """The text of every QR code in a PNG (a screenshot, a page's picture), as zxing-cpp reads it."""
    with Image.open(io.BytesIO(png)) as image:
        found = zxingcpp.read_barcodes(
            image.convert("L"), formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
        )
    return [barcode.text for barcode in found]


def qr_png(content: str, scale: int = 8) -> bytes:
    """A PNG of a QR code of `content`, made by segno (the library the app draws its QR codes with)."""
    buffer = io.BytesIO()
    segno.make(content, micro=False).save(buffer, kind="png", scale=scale)
    return buffer.getvalue()
