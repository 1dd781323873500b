"""The platform admin's pages in a real browser (PAGES.md, "Platform admin", "Accessibility"): an admin made by
`loyalty users create-admin` chooses a password, creates a shop, invites its owner, creates an API key that
the vendor API accepts, and retries a parked wallet update. Each admin page passes axe and speaks each
language. The screenshots of docs/user-journeys.md ("Operating the platform") are taken here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from playwright.async_api import Page, expect
from sqlalchemy import select

from loyalty.models import OutboxStatus, Vendor, WalletOutbox
from loyalty.services import accounts
from loyalty.services.context import Context
from tests.browser import BrowserLog, LiveApp, assert_accessible, live_app_on, screenshot
from tests.fixtures import DevWallet
from tests.web.page_checks import check_page

pytestmark = [pytest.mark.anyio, pytest.mark.browser, pytest.mark.postgres]

PASSWORD = "the platform never sleeps"
LANGUAGES = ("en", "fr", "de", "lb")


@pytest.fixture
async def wallet_app(pg_database_url: str, dev_wallet: DevWallet) -> AsyncIterator[LiveApp]:
    """The live app with Apple Wallet on the development certificates, so the wallet page shows their expiry."""
    async with live_app_on(pg_database_url, **dev_wallet.settings) as live:
        yield live


async def signed_in_admin(live: LiveApp, page: Page) -> None:
    """The first admin, invited from the command line's service, chooses a password and lands on /admin."""
    async with live.database.unit_of_work() as session:
        invited = await accounts.create_admin(Context(session, live.settings, live.clock), "root@platform.lu")
    await page.goto(live.url(invited.path))
    await page.get_by_label("New password").fill(PASSWORD)
    await page.get_by_label("The same password again").fill(PASSWORD)
    await page.get_by_role("button", name="Save and sign in").click()
    await expect(page).to_have_url(live.url("/admin"))


async def parked_update(live: LiveApp) -> int:
    """An Apple Wallet update the worker gave up on (APNs refused the certificate)."""
    now = datetime.now(UTC)
    async with live.database.unit_of_work() as session:
        row = WalletOutbox(
            vendor_id=live.tenant.vendor_id, card_id=live.tenant.card_id, provider="apple", pass_version=now,
            status=OutboxStatus.PARKED, attempts=8, due_at=now, last_attempt_at=now,
            last_error="APNs answered 403 BadCertificate", created_at=now,
        )  # fmt: skip
        session.add(row)
        await session.flush()
        return row.id


async def test_an_admin_creates_a_shop_invites_its_owner_and_makes_a_key(wallet_app: LiveApp, page: Page) -> None:
    row_id = await parked_update(wallet_app)
    await signed_in_admin(wallet_app, page)
    await expect(page.locator("#vendors tbody")).to_contain_text("Cafe-One")
    await expect(page.locator("#wallet-summary")).to_contain_text("1 wallet update was given up after failures.")
    await assert_accessible(page)

    await page.get_by_label("Name", exact=True).fill("Boulangerie Am Duerf")
    await page.locator("#new-default_locale").select_option("fr")
    await page.get_by_role("button", name="Create the shop").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Boulangerie Am Duerf")
    await expect(page.locator("[role=status]")).to_contain_text("Created.")
    async with wallet_app.database.unit_of_work() as session:
        vendor = await session.scalar(select(Vendor).where(Vendor.slug == "boulangerie-am-duerf"))
        assert vendor is not None
    await expect(page).to_have_url(wallet_app.url(f"/admin/vendors/{vendor.id}?created=1"))

    await page.get_by_label("E-mail").fill("patron@am-duerf.lu")
    await page.get_by_role("button", name="Invite").click()
    link = await page.locator("#invitation-link").input_value()
    assert link.startswith(wallet_app.url("/vendor/invite/"))
    await expect(page.locator("#users")).to_contain_text("Invited: no password chosen yet")
    await assert_accessible(page)
    await screenshot(page, "admin-vendor")

    await page.get_by_label("What the key is for").fill("Till")
    await page.get_by_role("button", name="Create the key").click()
    key = await page.locator("#new-key").input_value()
    await expect(page.locator("#keys tbody tr")).to_have_count(1)
    async with httpx.AsyncClient(base_url=wallet_app.base_url) as client:
        listed = await client.get("/api/v1/vendor/loyalty/terminals", headers={"authorization": f"Bearer {key}"})
    assert listed.status_code == 200 and listed.json()["items"] == []  # the new shop's own API

    await page.get_by_role("link", name="Wallet health").click()
    await expect(page.locator("#parked")).to_contain_text("APNs answered 403 BadCertificate")
    await expect(page.locator("#apple-certificates")).to_contain_text("Pass signing certificate expires")
    await assert_accessible(page)
    await screenshot(page, "admin-wallet")
    await page.get_by_role("button", name="Retry").click()
    await expect(page.locator("[role=status]")).to_contain_text("Sent again")
    async with wallet_app.database.unit_of_work() as session:
        row = await session.get(WalletOutbox, row_id)
        assert row is not None and row.status == OutboxStatus.PENDING


@pytest.mark.parametrize("language", LANGUAGES)
async def test_each_admin_page_speaks_each_language(
    live_app: LiveApp, page: Page, browser_log: BrowserLog, language: str
) -> None:
    browser_log.expect_console_error(r"status of 404 .*/admin/vendors/999999")  # the page for a shop not found
    await signed_in_admin(live_app, page)
    vendor = f"/admin/vendors/{live_app.tenant.vendor_id}"
    for path in ("/admin", vendor, "/admin/wallet", "/admin/vendors/999999"):
        await page.goto(live_app.url(f"{path}?lang={language}"))
        await check_page(page, language)
