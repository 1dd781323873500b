"""Who may see what on the dashboard, in a real browser (PAGES.md, "Authentication (browser)", "Sessions"):
a manager never reaches the owner's pages, a shop's session never reaches the admin's; signing out and a
password change end sessions; a form posted from another origin is refused even when it carries the right
CSRF token (the Origin check), and nothing it asked for is done."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from loyalty.services import api_keys
from loyalty.services.context import Context
from tests.browser import STAFF_NAME, BrowserLog, LiveApp, guarded_context
from tests.web.test_browser_dashboard import PASSWORD, signed_in

pytestmark = [pytest.mark.anyio, pytest.mark.browser, pytest.mark.postgres]

REFUSED = r"Failed to load resource: the server responded with a status of 4\d\d"
ANOTHER_ORIGIN = "http://127.0.0.1:9/"  # never listened on: the test's own route answers it (same site, not origin)


async def invited_as(live: LiveApp, email: str, role: str) -> str:
    """A one-time invitation link for `email` with `role`, made through the admin API."""
    async with live.database.unit_of_work() as session:
        admin = await api_keys.create_admin_key(Context(session, live.settings, live.clock), f"test admin {email}")
    async with httpx.AsyncClient(base_url=live.base_url, timeout=30) as client:
        invited = await client.post(
            f"/api/v1/admin/loyalty/vendors/{live.tenant.vendor_id}/users",
            json={"email": email, "role": role},
            headers={"authorization": f"Bearer {admin.secret}"},
        )
    assert invited.status_code == 201, invited.text
    return str(invited.json()["invitation_url"])


async def accept(page: Page, link: str) -> None:
    await page.goto(link)
    await page.get_by_label("New password").fill(PASSWORD)
    await page.get_by_label("The same password again").fill(PASSWORD)
    await page.get_by_role("button", name="Save and sign in").click()


async def sign_in(page: Page, live: LiveApp, email: str, password: str = PASSWORD) -> None:
    await page.goto(live.url("/vendor/login"))
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()


async def test_a_manager_cannot_reach_the_owners_pages_nor_a_shop_the_admins(
    live_app: LiveApp, page: Page, browser_log: BrowserLog
) -> None:
    await accept(page, await invited_as(live_app, "manager@cafe-one.lu", "manager"))
    await expect(page).to_have_url(live_app.url("/vendor"))
    menu = page.get_by_role("navigation", name="Dashboard")
    await expect(menu.get_by_role("link", name="Staff")).to_be_visible()
    await expect(menu.get_by_role("link", name="Users")).to_have_count(0)
    await expect(menu.get_by_role("link", name="Counter terminals")).to_have_count(0)

    browser_log.expect_console_error(REFUSED)
    for owners_only in ("/vendor/users", "/vendor/terminals", "/vendor/export.csv"):
        answer = await page.goto(live_app.url(owners_only))
        assert answer is not None and answer.status == 403, owners_only
        await expect(page.get_by_role("heading", level=1)).to_have_text("Not possible")

    await page.goto(live_app.url("/admin"))  # a shop's session is no admin's: the admin's sign-in instead
    await expect(page).to_have_url(live_app.url("/admin/login"))


async def test_signing_out_and_a_password_change_end_sessions(
    live_app: LiveApp, page: Page, browser: Browser, browser_log: BrowserLog
) -> None:
    await signed_in(live_app, page)  # the owner at the office
    async with (
        guarded_context(browser, browser_log) as at_home,
        guarded_context(browser, browser_log) as on_the_phone,
    ):
        home, phone = await at_home.new_page(), await on_the_phone.new_page()
        for elsewhere in (home, phone):
            await sign_in(elsewhere, live_app, "owner@cafe-one.lu")
            await expect(elsewhere).to_have_url(live_app.url("/vendor"))

        await phone.get_by_role("button", name="Sign out").click()  # signing out ends that session only
        await expect(phone).to_have_url(live_app.url("/vendor/login"))
        await phone.goto(live_app.url("/vendor"))
        await expect(phone).to_have_url(live_app.url("/vendor/login"))
        await home.goto(live_app.url("/vendor/staff"))
        await expect(home).to_have_url(live_app.url("/vendor/staff"))

        await page.get_by_role("link", name="Password").click()  # a new password at the office ends the rest
        await page.get_by_label("Current password").fill(PASSWORD)
        await page.get_by_label("New password", exact=True).fill("two sugars and a cinnamon roll")
        await page.get_by_label("The same password again").fill("two sugars and a cinnamon roll")
        await page.get_by_role("button", name="Change the password").click()
        await expect(page.get_by_role("status")).to_contain_text("Password changed")
        await home.goto(live_app.url("/vendor/staff"))
        await expect(home).to_have_url(live_app.url("/vendor/login"))
        await page.goto(live_app.url("/vendor/staff"))  # the office's own session goes on
        await expect(page).to_have_url(live_app.url("/vendor/staff"))

        browser_log.expect_console_error(REFUSED)
        await sign_in(phone, live_app, "owner@cafe-one.lu")  # the old password no longer opens it
        await expect(phone).to_have_url(live_app.url("/vendor/login"))
        await expect(phone.get_by_role("alert")).to_be_visible()


async def test_a_form_posted_from_another_origin_is_refused_even_with_the_right_token(
    live_app: LiveApp, page: Page, browser_log: BrowserLog
) -> None:
    await signed_in(live_app, page)
    await page.goto(live_app.url("/vendor/staff"))
    token = await page.locator("input[name=csrf_token]").first.get_attribute("value")
    assert token
    # Another origin of the same site (another port of 127.0.0.1): SameSite=Strict still sends the cookie, so
    # only the Origin check stands between this page and the shop's staff list.
    forged = f"""<!doctype html><title>Win a coffee</title>
        <form method="post" action="{live_app.url("/vendor/staff")}">
          <input type="hidden" name="csrf_token" value="{token}">
          <input type="hidden" name="action" value="create">
          <input type="hidden" name="name" value="Intruder"><input type="hidden" name="pin" value="13579">
          <button>Claim your coffee</button>
        </form>"""
    await page.route(ANOTHER_ORIGIN, lambda route: route.fulfill(content_type="text/html", body=forged))
    await page.goto(ANOTHER_ORIGIN)
    browser_log.expect_console_error(REFUSED)
    async with page.expect_navigation() as navigated:
        await page.get_by_role("button", name="Claim your coffee").click()
    answer = await navigated.value
    assert answer is not None and answer.status == 403

    await page.goto(live_app.url("/vendor/staff"))
    await expect(page.locator(".staff-item h3")).to_have_text([STAFF_NAME])  # no one was added
