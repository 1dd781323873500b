"""The counter's poster page in a real browser (PAGES.md, Routes: `/vendor/poster`): its QR, read back from what
Chromium draws on screen and for print, is the enrolment address, which opens the join page; the offer is there in
English, French, German and Luxembourgish, each block in its own language; printed to PDF, the A4 poster is one A4
page and the A6 poster one A6 page; a size other than A4 or A6 is a 400 page; a visitor who is not signed in is
sent to the sign-in page; a manager prints it too. The QR image alone is tests/web/test_browser_poster.py's."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import Page, expect

from loyalty.i18n import NP_, translate
from loyalty.services import api_keys
from loyalty.services.context import Context
from tests.browser import BrowserLog, LiveApp, assert_accessible, decode_qr, screenshot
from tests.web.test_browser_dashboard import PASSWORD, signed_in

pytestmark = [pytest.mark.anyio, pytest.mark.browser, pytest.mark.postgres]

LANGUAGES = ("en", "fr", "de", "lb")
# A PDF's page objects (not the /Pages tree above them); Chromium writes them uncompressed.
PDF_PAGE = re.compile(rb"/Type\s*/Page\b")
PDF_MEDIA_BOX = re.compile(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]")
POINTS_PER_MM = 72 / 25.4
SHEETS_MM = {"a4": (210, 297), "a6": (105, 148)}


def offer_in(locale: str, stamps_target: int) -> str:
    """The live tenant's stamp offer (no reward described) as the enrolment page words it in `locale`."""
    message = NP_("Collect {count} stamp for a reward.", "Collect {count} stamps for a reward.", count="plural_n")
    return translate(message, locale, plural_n=stamps_target, count=stamps_target)


def pdf_pages(pdf: bytes) -> list[tuple[float, float]]:
    """Each page's size in millimetres (its MediaBox), as many as the PDF has page objects."""
    pages = PDF_PAGE.findall(pdf)
    boxes = [(float(w) / POINTS_PER_MM, float(h) / POINTS_PER_MM) for w, h in PDF_MEDIA_BOX.findall(pdf)]
    assert len(boxes) == len(pages), "a page without its own MediaBox: count the pages another way"
    return boxes


async def test_the_poster_s_qr_opens_the_join_page_and_each_size_prints_on_one_sheet(
    live_app: LiveApp, page: Page
) -> None:
    await signed_in(live_app, page)
    await page.get_by_role("link", name="Poster").click()
    await expect(page).to_have_url(live_app.url("/vendor/poster"))
    await expect(page.locator("h1")).to_have_text("Poster for the counter")
    address = live_app.url("/join/cafe-one")

    sheet = page.locator(".poster-sheet")
    await expect(sheet.locator(".poster-shop")).to_have_text("Cafe-One")
    await expect(sheet.locator(".poster-address")).to_have_text(address)
    assert await sheet.locator(".poster-language").evaluate_all("blocks => blocks.map(b => b.lang)") == [
        "en",
        "fr",
        "de",
        "lb",
    ]
    for locale in LANGUAGES:
        await expect(sheet.locator(f'.poster-language[lang="{locale}"] li')).to_have_text([
            offer_in(locale, 3), translate("Points per euro spent: {rate}.", locale, rate="1")
        ])  # fmt: skip
    assert offer_in("fr", 3) != offer_in("en", 3)  # the blocks' languages are told apart

    await expect(page.get_by_role("button", name="Print")).to_be_visible()  # with script: the page's own button
    await page.evaluate("window.print = () => { window.printed = true; }")  # not the real dialog in a test
    await page.get_by_role("button", name="Print").click()
    assert await page.evaluate("window.printed") is True
    await assert_accessible(page)
    await screenshot(page, "dashboard-poster")

    assert decode_qr(await sheet.locator(".poster-qr").screenshot()) == [address]
    await page.emulate_media(media="print")  # as it prints: the sheet alone, its QR still read
    await expect(page.locator(".dashboard-nav")).to_be_hidden()
    await expect(page.locator("h1")).to_be_hidden()
    await expect(page.get_by_role("button", name="Print")).to_be_hidden()
    assert decode_qr(await page.screenshot(full_page=True)) == [address]
    await page.emulate_media(media=None)  # page.pdf() prints with the emulated media: "screen" would print the screen

    for size, paper in (("a4", "A4"), ("a6", "A6")):
        await page.goto(live_app.url(f"/vendor/poster?size={size}"))
        await expect(page.locator(f".poster-sheet.poster-{size}")).to_be_visible()
        await assert_accessible(page)
        assert len(pdf_pages(await page.pdf(format=paper))) == 1, f"the {paper} poster is not one {paper} page"
        [(width, height)] = pdf_pages(await page.pdf(prefer_css_page_size=True))  # the page's own @page size
        assert (round(width), round(height)) == SHEETS_MM[size], size

    await page.goto(address)
    await expect(page.locator("h1")).to_have_text("Join the loyalty programme of Cafe-One")


async def test_a_size_other_than_a4_or_a6_is_a_400_page(live_app: LiveApp, page: Page, browser_log: BrowserLog) -> None:
    await signed_in(live_app, page)
    browser_log.expect_console_error(
        r"status of 400 \(Bad Request\) \(.*/vendor/poster\?size=a3"
    )  # the page's own answer

    answer = await page.goto(live_app.url("/vendor/poster?size=a3"))

    assert answer is not None and answer.status == 400
    await expect(page.get_by_role("alert")).to_have_text("There is no poster of that size: choose A4 or A6.")
    await expect(page.locator(".poster-sheet")).to_have_count(0)
    await page.get_by_role("link", name="A6 (on the counter)").click()  # the way on
    await expect(page.locator(".poster-sheet.poster-a6")).to_be_visible()
    await assert_accessible(page)


async def test_a_switched_off_programme_has_no_poster(live_app: LiveApp, page: Page, browser_log: BrowserLog) -> None:
    # Its enrolment page no longer opens: a poster would send customers to a "not found" page.
    async with httpx.AsyncClient(base_url=live_app.base_url, headers=live_app.tenant.headers) as api:
        assert (await api.post("/api/v1/vendor/loyalty/program/deactivate")).status_code == 200
    await signed_in(live_app, page)
    browser_log.expect_console_error(r"status of 409 \(Conflict\) \(.*/vendor/poster")

    answer = await page.goto(live_app.url("/vendor/poster"))

    assert answer is not None and answer.status == 409
    await expect(page.get_by_role("alert")).to_contain_text("The poster needs an active loyalty programme")
    await expect(page.locator(".poster-sheet")).to_have_count(0)
    await expect(page.locator("#print-poster")).to_have_count(0)


async def test_a_visitor_not_signed_in_is_sent_to_sign_in(live_app: LiveApp, page: Page) -> None:
    await page.goto(live_app.url("/vendor/poster?size=a6"))

    await expect(page).to_have_url(live_app.url("/vendor/login"))
    await expect(page.locator(".poster-sheet")).to_have_count(0)


async def test_a_manager_prints_the_poster_too(live_app: LiveApp, page: Page) -> None:
    async with live_app.database.unit_of_work() as session:
        admin = await api_keys.create_admin_key(Context(session, live_app.settings, live_app.clock), "test admin")
    async with httpx.AsyncClient(base_url=live_app.base_url) as client:
        invited = await client.post(
            f"/api/v1/admin/loyalty/vendors/{live_app.tenant.vendor_id}/users",
            json={"email": "manager@cafe-one.lu", "role": "manager"},
            headers={"authorization": f"Bearer {admin.secret}"},
        )
    assert invited.status_code == 201, invited.text
    await page.goto(invited.json()["invitation_url"])
    await page.get_by_label("New password").fill(PASSWORD)
    await page.get_by_label("The same password again").fill(PASSWORD)
    await page.get_by_role("button", name="Save and sign in").click()
    await expect(page).to_have_url(live_app.url("/vendor"))

    await page.get_by_role("link", name="Poster").click()

    await expect(page.locator(".poster-address")).to_have_text(live_app.url("/join/cafe-one"))


@pytest.mark.parametrize("language", LANGUAGES)
async def test_the_page_around_the_poster_speaks_each_language(live_app: LiveApp, page: Page, language: str) -> None:
    # The sheet speaks all four languages by design (each block with its `lang`); the page around it speaks one.
    await signed_in(live_app, page)
    await page.goto(live_app.url(f"/vendor/poster?lang={language}"))

    await expect(page.locator("html")).to_have_attribute("lang", language)
    await expect(page.locator("h1")).to_have_text(translate("Poster for the counter", language))
    await expect(page.locator("nav.poster-sizes")).to_have_attribute("aria-label", translate("Paper size", language))
    await assert_accessible(page)
