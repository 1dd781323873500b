"""The vendor dashboard in a real browser (PAGES.md, "Vendor dashboard", "Authentication", "Accessibility"):
an invitation made through the admin API → a password chosen → the overview, whose table equals the API's
statistics → a counter terminal made on the page, its code paired on another browser → signing out. Each
page in each language is accessible and translated. The screenshots of docs/user-journeys.md ("Running the
programme") are taken here."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from loyalty.services import accounts, api_keys
from loyalty.services.context import Context
from tests.browser import STAFF_NAME, BrowserLog, LiveApp, assert_accessible, guarded_context, screenshot
from tests.web.page_checks import check_page

pytestmark = [pytest.mark.anyio, pytest.mark.browser, pytest.mark.postgres]

PASSWORD = "flat white every morning"
LANGUAGES = ("en", "fr", "de", "lb")


async def invitation(live: LiveApp) -> str:
    """An owner's invitation link from the admin API (an admin key made for the test)."""
    async with live.database.unit_of_work() as session:
        admin = await api_keys.create_admin_key(Context(session, live.settings, live.clock), "test admin")
    async with httpx.AsyncClient(base_url=live.base_url, timeout=30) as client:
        invited = await client.post(
            f"/api/v1/admin/loyalty/vendors/{live.tenant.vendor_id}/users",
            json={"email": "owner@cafe-one.lu", "role": "owner"},
            headers={"authorization": f"Bearer {admin.secret}"},
        )
    assert invited.status_code == 201, invited.text
    return str(invited.json()["invitation_url"])


async def signed_in(live: LiveApp, page: Page) -> None:
    await page.goto(await invitation(live))
    await page.get_by_label("New password").fill(PASSWORD)
    await page.get_by_label("The same password again").fill(PASSWORD)
    await page.get_by_role("button", name="Save and sign in").click()
    await expect(page).to_have_url(live.url("/vendor"))


async def test_invitation_overview_terminals_and_signing_out(
    live_app: LiveApp, page: Page, browser: Browser, browser_log: BrowserLog
) -> None:
    async with httpx.AsyncClient(base_url=live_app.base_url) as client:
        stamped = await client.post(
            "/api/v1/vendor/loyalty/stamp",
            json={"card_id": live_app.tenant.card_id, "staff_pin": live_app.tenant.pin},
            headers=live_app.tenant.headers,
        )
        assert stamped.status_code == 201
        expected = (await client.get("/api/v1/vendor/loyalty/stats", headers=live_app.tenant.headers)).json()

    await page.goto(await invitation(live_app))
    await assert_accessible(page)
    await screenshot(page, "dashboard-invitation")
    await page.get_by_label("New password").fill(PASSWORD)
    await page.get_by_label("The same password again").fill(PASSWORD)
    await page.get_by_role("button", name="Save and sign in").click()
    await expect(page).to_have_url(live_app.url("/vendor"))
    await assert_accessible(page)
    await screenshot(page, "dashboard-overview")

    rows = await page.locator("#daily tbody tr").all_inner_texts()
    shown = [tuple(int(cell) for cell in row.split("\t")[1:]) for row in rows]
    wanted = [(d["stamps"], d["points_earned"], d["redemptions"], d["new_cards"]) for d in reversed(expected["daily"])]
    assert shown == wanted

    await page.get_by_role("link", name="Counter terminals").click()
    await page.get_by_label("Name of the new terminal (where it stands)").fill("Counter by the window")
    await page.get_by_role("button", name="Make a terminal").click()
    code = (await page.locator("#pairing-code").inner_text()).replace(" ", "")
    assert len(code) == 8 and code.isdigit()
    await assert_accessible(page)
    await screenshot(page, "dashboard-terminals")

    async with guarded_context(browser, browser_log) as tablet_context:  # the counter's tablet
        tablet = await tablet_context.new_page()
        await tablet.goto(live_app.url("/terminal/pair"))
        await tablet.get_by_label("Pairing code (8 digits)").fill(code)
        await tablet.get_by_role("button", name="Pair this device").click()
        await expect(tablet).to_have_url(live_app.url("/terminal"))
    await page.reload()  # the form again (the browser asks first): a fresh code, not a second terminal
    await expect(page.locator(".terminal-item")).to_have_count(1)
    await page.get_by_role("link", name="Counter terminals").click()
    await expect(page.locator(".terminal-item")).to_contain_text("Paired; last used")
    await expect(page.locator(".terminal-item")).to_contain_text("Waiting to be paired")  # the fresh code

    await page.get_by_role("link", name="Staff").click()
    await page.get_by_label("Name", exact=True).fill("Noah")
    await page.get_by_label("PIN (4 to 8 digits)").fill("80808")
    await page.get_by_role("button", name="Add a member of staff").click()
    await expect(page.locator(".staff-item h3")).to_have_text([STAFF_NAME, "Noah"])
    await assert_accessible(page)
    await screenshot(page, "dashboard-staff")

    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(live_app.url("/vendor/login"))
    await page.goto(live_app.url("/vendor"))
    await expect(page).to_have_url(live_app.url("/vendor/login"))  # the session is over
    await assert_accessible(page)
    await screenshot(page, "dashboard-sign-in")


@pytest.mark.parametrize("language", LANGUAGES)
async def test_each_dashboard_page_speaks_each_language(live_app: LiveApp, page: Page, language: str) -> None:
    await signed_in(live_app, page)
    for path in ("/vendor", "/vendor/staff", "/vendor/terminals", "/vendor/users", "/vendor/password"):
        await page.goto(live_app.url(f"{path}?lang={language}"))
        await check_page(page, language)
    await page.locator("form.sign-out button").click()
    await page.goto(live_app.url(f"/vendor/login?lang={language}"))
    await check_page(page, language)


async def test_the_platform_admins_overview(live_app: LiveApp, page: Page) -> None:
    async with live_app.database.unit_of_work() as session:
        invited = await accounts.create_admin(Context(session, live_app.settings, live_app.clock), "root@platform.lu")
    await page.goto(live_app.url(invited.path))
    await page.get_by_label("New password").fill(PASSWORD)
    await page.get_by_label("The same password again").fill(PASSWORD)
    await page.get_by_role("button", name="Save and sign in").click()
    await expect(page).to_have_url(live_app.url("/admin"))
    await expect(page.locator("#vendors tbody tr")).to_have_count(1)
    await expect(page.locator("#vendors tbody")).to_contain_text("Cafe-One")
    await screenshot(page, "admin-overview")
    for language in LANGUAGES:
        await page.goto(live_app.url(f"/admin?lang={language}"))
        await check_page(page, language)
