"""The overview's anomalies in a real browser (PAGES.md, "Vendor dashboard"; issue 18: "an anomaly appears for a
seeded pattern (a card at its daily limit on 3 of 7 days) and links to its rows"): the pattern seeded through
the API on three earlier days, the sentence on /vendor after signing in, its link to the ledger showing exactly
those entries. Both pages accessible; the screenshot "dashboard-anomalies" for docs/user-journeys.md."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.async_api import Page, expect

from loyalty.clock import local_day, local_midnight
from tests.browser import BrowserLog, LiveApp, assert_accessible, screenshot
from tests.web.page_checks import check_page
from tests.web.test_browser_dashboard import LANGUAGES, signed_in

pytestmark = [pytest.mark.anyio, pytest.mark.browser, pytest.mark.postgres]

ZONE = "Europe/Luxembourg"  # the live tenant's
LIMIT = 5  # the live tenant's stamps a day


async def at_the_limit_on(live: LiveApp, days_ago: tuple[int, ...]) -> list[int]:
    """The live tenant's card stamped up to its daily limit at 10:00, 10:16 … (past the 15-minute cooldown) on
    each of those local days; the clock back at the real time after. The ledger entries' ids."""
    today = local_day(datetime.now(UTC), ZONE)
    made = []
    async with httpx.AsyncClient(base_url=live.base_url) as client:
        for back in days_ago:
            ten = local_midnight(today - timedelta(days=back), ZONE) + timedelta(hours=10)
            live.clock.offset = ten - datetime.now(UTC)
            for _ in range(LIMIT):
                stamped = await client.post(
                    "/api/v1/vendor/loyalty/stamp",
                    json={"card_id": live.tenant.card_id, "staff_pin": live.tenant.pin},
                    headers=live.tenant.headers,
                )
                assert stamped.status_code == 201, stamped.text
                made.append(int(stamped.json()["transaction_id"]))
                live.clock.advance(timedelta(minutes=16))
    live.clock.offset = timedelta(0)  # the browser's cookies live in real time
    return made


async def test_a_card_at_its_daily_limit_on_three_days_links_to_those_entries(live_app: LiveApp, page: Page) -> None:
    made = await at_the_limit_on(live_app, (6, 4, 2))
    await signed_in(live_app, page)

    anomalies = page.locator(".anomalies")
    number = " ".join(live_app.tenant.card_number[i : i + 4] for i in range(0, 16, 4))
    sentence = f"Card {number} reached its daily stamp limit (5) on 3 of the last 7 days."
    await expect(anomalies.locator(".anomaly")).to_have_count(1)
    await expect(anomalies.locator(".anomaly p")).to_have_text(sentence)
    await assert_accessible(page)
    await screenshot(page, "dashboard-anomalies")

    await anomalies.get_by_role("link", name="Show the 15 entries").click()
    await expect(page).to_have_url(live_app.url(f"/vendor/ledger?entries={','.join(map(str, reversed(made)))}"))
    await expect(page.locator("#ledger tbody tr")).to_have_count(len(made))
    shown = await page.locator("#ledger tbody th").all_inner_texts()
    assert [int(entry) for entry in shown] == sorted(made, reverse=True)
    await expect(page.locator("#ledger tbody")).to_contain_text(number)
    await assert_accessible(page)

    await page.get_by_label("Kind of entry").select_option("void")  # the filter form narrows it further
    await page.get_by_role("button", name="Show").click()
    await expect(page.locator("#ledger")).to_have_count(0)
    await expect(page.get_by_text("No entry matches.")).to_be_visible()


async def test_no_anomaly_and_a_refused_filter(live_app: LiveApp, page: Page, browser_log: BrowserLog) -> None:
    await signed_in(live_app, page)
    await expect(page.locator(".anomalies")).to_contain_text("No anomalies in the last 7 days.")
    browser_log.expect_console_error(r"status of 400 \(Bad Request\)")  # Chromium reports the page's status
    await page.goto(live_app.url("/vendor/ledger?days=zero"))
    await expect(page.get_by_role("alert")).to_have_text("The days are a whole number from 1 to 366.")
    await assert_accessible(page)


@pytest.mark.parametrize("language", LANGUAGES)
async def test_the_anomalies_and_the_ledger_speak_each_language(live_app: LiveApp, page: Page, language: str) -> None:
    await at_the_limit_on(live_app, (5, 3, 1))
    await signed_in(live_app, page)
    for path in ("/vendor", "/vendor/ledger", "/vendor/ledger?days=7&type=stamp_earned"):
        await page.goto(live_app.url(f"{path}{'&' if '?' in path else '?'}lang={language}"))
        await check_page(page, language)
