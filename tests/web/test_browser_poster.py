"""The enrolment page's QR for the counter's poster, read back by a QR decoder from what Chromium draws."""

from __future__ import annotations

import pytest
from playwright.async_api import Page

from tests.browser import LiveApp, decode_qr

pytestmark = [pytest.mark.anyio, pytest.mark.browser, pytest.mark.postgres]


async def test_the_poster_qr_decodes_to_the_enrolment_page_which_opens(live_app: LiveApp, page: Page) -> None:
    answer = await page.goto(live_app.url("/join/cafe-one/qr.svg"))
    assert answer is not None and answer.headers["content-type"] == "image/svg+xml"

    [address] = decode_qr(await page.screenshot())

    assert address == live_app.url("/join/cafe-one")
    await page.goto(address)
    assert await page.locator("h1").inner_text() == "Join the loyalty programme of Cafe-One"
