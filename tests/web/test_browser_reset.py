""" "Forgot password" in a real browser (PAGES.md, "Authentication", "Mail", "Accessibility"): the sign-in
page's link → the e-mail asked → the neutral answer → the worker writes the mail into the mail folder (the
demo's mode) → its link → a new password → signed in. Each page is accessible."""

from __future__ import annotations

from collections.abc import AsyncIterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from loyalty.services import accounts
from loyalty.services.context import Context
from loyalty.worker.loop import Worker
from tests.browser import LiveApp, assert_accessible, live_app_on
from tests.web.test_reset_http import link_in

pytestmark = [pytest.mark.anyio, pytest.mark.browser, pytest.mark.postgres]

OLD_PASSWORD = "flat white every morning"
NEW_PASSWORD = "a croissant on sundays"


@pytest.fixture
async def live(pg_database_url: str, tmp_path: Path) -> AsyncIterator[LiveApp]:
    async with live_app_on(pg_database_url, smtp_url="", mail_dir=tmp_path / "mail") as running:
        yield running


async def test_a_forgotten_password_is_chosen_again_from_the_mailed_link(live: LiveApp, page: Page) -> None:
    async with live.database.unit_of_work() as session:
        ctx = Context(session, live.settings, live.clock)
        new = accounts.UserInvite(email="owner@cafe-one.lu", role="owner")
        invitation = await accounts.invite(ctx, live.tenant.vendor_id, new)
        await accounts.accept_invitation(ctx, invitation.token, OLD_PASSWORD)

    await page.goto(live.url("/vendor/login"))
    await page.get_by_role("link", name="Forgot your password?").click()
    await expect(page).to_have_url(live.url("/vendor/reset"))
    await assert_accessible(page)
    await page.get_by_label("E-mail").fill("owner@cafe-one.lu")
    await page.get_by_role("button", name="E-mail me a link").click()
    await expect(page.get_by_role("heading", name="Check your e-mail")).to_be_visible()
    await assert_accessible(page)

    worker = Worker(live.database, live.settings, live.clock)
    while await worker.run_once():
        pass
    [written] = sorted(live.settings.mail_dir.glob("*.eml"))[-1:]
    mail = message_from_bytes(written.read_bytes(), policy=policy.default)
    assert isinstance(mail, EmailMessage) and mail["Subject"] == "Choose a new password"

    await page.goto(live.url(link_in(mail, base=live.base_url)))
    await expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    await assert_accessible(page)
    await page.get_by_label("New password").fill(NEW_PASSWORD)
    await page.get_by_label("The same password again").fill(NEW_PASSWORD)
    await page.get_by_role("button", name="Save and sign in").click()
    await expect(page).to_have_url(live.url("/vendor"))
