"""The browser-test infrastructure itself (tests/browser.py): Chromium loads the service's own Swagger UI with
nothing fetched from outside and no console error; the guards catch what they must; the helpers read QR codes,
run axe and take screenshots."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from PIL import Image
from playwright.async_api import Page, expect

from tests.browser import BrowserLog, LiveApp, assert_accessible, decode_qr, qr_png, screenshot

QR_CONTENT = "Zk3mPq9xWv2LrT8yHn4cBd6fJs1gXa0e"  # shaped like a card's qr_code (32 URL-safe characters)


@pytest.mark.anyio
@pytest.mark.browser
@pytest.mark.postgres
async def test_swagger_ui_loads_offline_with_no_console_error(
    live_app: LiveApp, page: Page, browser_log: BrowserLog
) -> None:
    await page.goto(live_app.url("/docs"))
    await expect(page).to_have_title("Loyalty - Swagger UI")
    # Rendered from /openapi.json by Swagger UI's own scripts: the page's JavaScript ran.
    # Found by its role and name, as a reader finds it; Swagger UI renders the list after fetching and parsing
    # the whole document, which on a loaded 2-core machine can take longer than Playwright's default wait.
    operation = page.get_by_role("button", name="POST /api/v1/admin/loyalty/vendors Create a vendor")
    await expect(operation).to_be_visible(timeout=30_000)
    assert browser_log.external_requests == []
    assert browser_log.unexpected_console_errors() == []


@pytest.mark.anyio
@pytest.mark.browser
async def test_a_request_leaving_127_0_0_1_is_aborted_and_recorded(page: Page, browser_log: BrowserLog) -> None:
    await page.set_content('<img src="http://external.invalid/pixel.png" alt="">')  # returns after "load"
    assert browser_log.external_requests == ["GET http://external.invalid/pixel.png"]
    assert any("ERR_BLOCKED_BY_CLIENT" in error for error in browser_log.console_errors), browser_log
    browser_log.external_requests.clear()  # seen: the teardown would fail the test on either
    browser_log.console_errors.clear()


@pytest.mark.anyio
@pytest.mark.browser
async def test_the_helpers_read_a_qr_from_a_screenshot_run_axe_and_save_both_sizes(page: Page, tmp_path: Path) -> None:
    picture = base64.b64encode(qr_png(QR_CONTENT)).decode()
    # The pages' own Content-Security-Policy (PAGES.md): axe must run under it.
    await page.set_content(
        '<!doctype html><html lang="en"><head><title>QR</title><meta http-equiv="Content-Security-Policy"'
        " content=\"default-src 'self'; script-src 'self'; img-src 'self' data:\"></head>"
        f'<body><main><h1>Your card</h1><img src="data:image/png;base64,{picture}" alt="QR code"></main></body></html>'
    )
    assert decode_qr(await page.screenshot()) == [QR_CONTENT]
    await assert_accessible(page)

    await page.set_content('<html lang="en"><title>Form</title><main><h1>Form</h1><input type="text"></main></html>')
    with pytest.raises(AssertionError, match=r"(?s)\[critical\] label: .* at input"):
        await assert_accessible(page)

    paths = await screenshot(page, "helper-check", directory=tmp_path)
    sizes = []
    for path in paths:
        with Image.open(path) as image:
            sizes.append((path.name, image.width))
    assert sizes == [("helper-check-360x740.png", 360), ("helper-check-1280x800.png", 1280)]
    assert page.viewport_size == {"width": 1280, "height": 800}


def test_decode_qr_reads_a_segno_qr_code() -> None:
    assert decode_qr(qr_png(QR_CONTENT)) == [QR_CONTENT]
    assert decode_qr(qr_png("https://127.0.0.1:8000/card/abc?x=1&y=2", scale=3)) == [
        "https://127.0.0.1:8000/card/abc?x=1&y=2"
    ]
