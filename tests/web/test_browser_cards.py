"""The dashboard's cards in a real browser (PAGES.md, "Vendor dashboard" → Cards; issue 18: "void a transaction
with a PIN and see the balance change"): sign in → search the card by its printed number → open it → a wrong
PIN refused with the attempts left → the stamp voided with the staff member's PIN → the balance drops and the
entry is marked. Each page in each language is accessible and translated; the screenshots "dashboard-cards"
and "dashboard-card" of docs/user-journeys.md are taken here."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Page, expect

from loyalty.services.card_numbers import format_card_number
from tests.browser import STAFF_NAME, BrowserLog, LiveApp, assert_accessible, screenshot
from tests.web.page_checks import check_page
from tests.web.test_browser_dashboard import LANGUAGES, signed_in

pytestmark = [pytest.mark.anyio, pytest.mark.browser, pytest.mark.postgres]


async def _stamped(live: LiveApp) -> int:
    """One stamp on the live tenant's card through the API; its ledger entry's id."""
    async with httpx.AsyncClient(base_url=live.base_url) as client:
        stamped = await client.post(
            "/api/v1/vendor/loyalty/stamp",
            json={"card_id": live.tenant.card_id, "staff_pin": live.tenant.pin},
            headers=live.tenant.headers,
        )
    assert stamped.status_code == 201, stamped.text
    return int(stamped.json()["transaction_id"])


async def test_a_stamp_is_found_and_voided_with_the_staff_pin(
    live_app: LiveApp, page: Page, browser_log: BrowserLog
) -> None:
    entry = await _stamped(live_app)
    browser_log.expect_console_error(r"status of 403 .*/vendor/cards/\d+")  # the wrong PIN's page is a 403
    printed = format_card_number(live_app.tenant.card_number)
    await signed_in(live_app, page)

    await page.get_by_role("link", name="Cards", exact=True).click()
    await expect(page).to_have_url(live_app.url("/vendor/cards"))
    await page.get_by_label("Card number, e-mail or name").fill(printed)
    await page.get_by_role("button", name="Search").click()
    await expect(page.locator("#cards tbody tr")).to_have_count(1)
    await expect(page.get_by_role("heading", name="1 card found")).to_be_visible()
    await assert_accessible(page)
    await screenshot(page, "dashboard-cards")

    await page.get_by_role("link", name=printed).click()
    await expect(page).to_have_url(live_app.url(f"/vendor/cards/{live_app.tenant.card_id}"))
    await expect(page.locator("#stamp-balance")).to_have_text("1 of 3 stamps towards the reward")
    await expect(page.locator(f"#tx-{entry}")).to_contain_text(STAFF_NAME)
    await assert_accessible(page)

    await page.get_by_role("link", name=f"Void entry {entry}").click()  # the form, with this entry chosen
    await expect(page.get_by_label("Entry to void")).to_have_value(str(entry))
    await page.get_by_label("Reason").fill("Stamped the wrong card")
    await page.get_by_label("Staff member").select_option(label=STAFF_NAME)
    await page.get_by_label("Staff PIN").fill("0000")
    await page.get_by_role("button", name="Void the entry").click()
    await expect(page.get_by_role("alert")).to_contain_text("Wrong staff PIN")
    await expect(page.get_by_role("alert")).to_contain_text("4 attempts left")
    await expect(page.locator("#stamp-balance")).to_have_text("1 of 3 stamps towards the reward")
    await expect(page.get_by_label("Reason")).to_have_value("Stamped the wrong card")  # kept; the PIN is not
    await assert_accessible(page)

    await page.get_by_label("Staff PIN").fill(live_app.tenant.pin)
    await page.get_by_role("button", name="Void the entry").click()
    await expect(page.get_by_role("status")).to_contain_text("Voided")
    await expect(page.locator("#stamp-balance")).to_have_text("0 of 3 stamps towards the reward")
    await expect(page.locator(f"#tx-{entry}")).to_contain_text("Voided")
    await expect(page.locator("#ledger tbody tr")).to_have_count(2)  # the stamp and its correction
    await assert_accessible(page)
    await page.goto(live_app.url(f"/vendor/cards/{live_app.tenant.card_id}?entries={entry}#tx-{entry}"))
    await expect(page.locator(f"#tx-{entry}")).to_contain_text("Flagged")  # as an anomaly's link shows it
    await assert_accessible(page)
    await screenshot(page, "dashboard-card")


@pytest.mark.parametrize("language", LANGUAGES)
async def test_the_cards_pages_speak_each_language(
    live_app: LiveApp, page: Page, browser_log: BrowserLog, language: str
) -> None:
    entry = await _stamped(live_app)
    browser_log.expect_console_error(r"status of 404 .*/vendor/cards/999999")  # the page for no such card
    card = live_app.tenant.card_id
    await signed_in(live_app, page)
    for path in (
        "/vendor/cards?",
        f"/vendor/cards?q={live_app.tenant.card_number}&",
        "/vendor/cards?q=nobody-here&",
        f"/vendor/cards/{card}?",
        f"/vendor/cards/{card}?entries={entry}&",
        "/vendor/cards/999999?",
    ):
        await page.goto(live_app.url(f"{path}lang={language}"))
        await check_page(page, language)
