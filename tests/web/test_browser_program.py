"""The dashboard's programme page in a real browser (PAGES.md, "Vendor dashboard" → Programme): the colour's
contrast follows the picker and the text field live (static/program.js), a logo uploaded from a file appears on
the page, the page is accessible and speaks each language. The screenshot "dashboard-programme" of
docs/user-journeys.md is taken here."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from playwright.async_api import Page, expect

from tests.browser import BrowserLog, LiveApp, assert_accessible, screenshot
from tests.web.page_checks import check_page
from tests.web.test_browser_dashboard import LANGUAGES, signed_in

pytestmark = [pytest.mark.anyio, pytest.mark.browser, pytest.mark.postgres]


def _logo(path: Path) -> Path:
    """A logo as a shop might draw it: a wide dark-red mark on a transparent background."""
    image = Image.new("RGBA", (900, 300), (0, 0, 0, 0))
    image.paste(Image.new("RGBA", (780, 200), (150, 20, 40, 255)), (60, 50))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())
    return path


async def test_the_colour_contrast_follows_live_and_a_logo_is_uploaded(
    live_app: LiveApp, page: Page, tmp_path: Path
) -> None:
    await signed_in(live_app, page)
    await page.get_by_role("link", name="Programme").click()
    await expect(page).to_have_url(live_app.url("/vendor/program"))
    verdict = page.locator('#contrast [data-part="verdict"]')
    await expect(verdict).to_contain_text("The pass writes its text in white: 17.7:1")

    text = page.get_by_label("Card colour as text (#rrggbb; empty: the default dark blue)")
    await text.fill("#ffeb3b")  # typed: the sentence and the preview follow before anything is sent
    await expect(verdict).to_have_text(
        "The pass writes its text in black: 17.2:1 on this colour (WCAG asks at least 4.5:1)."
    )
    await expect(page.locator('#contrast [data-part="both"]')).to_have_text(
        "Black text would have 17.2:1, white text 1.2:1."
    )
    await expect(page.locator('#pass-preview [data-part="background"]')).to_have_attribute("fill", "#ffeb3b")
    await expect(page.get_by_label("Card colour", exact=True)).to_have_value("#ffeb3b")
    await text.fill("#12")
    await expect(verdict).to_contain_text("A colour as # and six hexadecimal digits")
    await page.get_by_label("Card colour", exact=True).fill("#0b57d0")  # the picker: the text field follows
    await expect(text).to_have_value("#0b57d0")
    await expect(verdict).to_contain_text("The pass writes its text in white: 6.")
    await page.get_by_role("button", name="Save the colour").click()
    await expect(page.get_by_role("status")).to_contain_text("Colour saved.")
    await expect(verdict).to_contain_text("The pass writes its text in white: 6.")  # now drawn by the server

    await page.get_by_label("A picture file").set_input_files(_logo(tmp_path / "logo.png"))
    await page.get_by_role("button", name="Upload the logo").click()
    await expect(page.get_by_role("status")).to_contain_text("Logo saved")
    logo = page.get_by_role("img", name="The logo of Cafe-One")
    await expect(logo).to_be_visible()
    assert await logo.evaluate("image => image.complete && image.naturalWidth") == 660  # re-encoded, 660 wide

    await page.get_by_label("Name of the reward").fill("Croissant")
    await page.get_by_label("Points it takes").fill("40")
    await page.get_by_role("button", name="Add the reward").click()
    await expect(page.locator("#reward-1")).to_have_text("Croissant")
    await page.get_by_label("Latitude (degrees north)").fill("49.6116")
    await page.get_by_label("Longitude (degrees east)").fill("6.1319")
    await page.get_by_label("Text on the lock screen near this shop").fill("Your card for Rue du Fort")
    await page.get_by_role("button", name="Add the shop").click()
    await expect(page.get_by_role("status")).to_contain_text("Shop added.")
    await page.locator("#program-name").scroll_into_view_if_needed()
    await page.evaluate("window.scrollTo(0, 0)")
    await assert_accessible(page)
    await screenshot(page, "dashboard-programme")


async def test_a_file_that_is_not_a_picture_is_refused_in_the_browser(
    live_app: LiveApp, page: Page, browser_log: BrowserLog, tmp_path: Path
) -> None:
    browser_log.expect_console_error(r"status of 400 .*/vendor/program/logo")  # the refusal's page, as designed
    await signed_in(live_app, page)
    await page.goto(live_app.url("/vendor/program"))
    text_file = tmp_path / "prices.png"
    text_file.write_text("espresso,2.20\n")
    await page.get_by_label("A picture file").set_input_files(text_file)
    await page.get_by_role("button", name="Upload the logo").click()
    await expect(page.get_by_role("alert")).to_contain_text("This file is not a picture we can read")
    await expect(page.get_by_label("A picture file")).to_have_attribute("aria-invalid", "true")
    await assert_accessible(page)


@pytest.mark.parametrize("language", LANGUAGES)
async def test_the_programme_page_speaks_each_language(live_app: LiveApp, page: Page, language: str) -> None:
    await signed_in(live_app, page)
    await page.goto(live_app.url(f"/vendor/program?lang={language}"))
    await check_page(page, language)
