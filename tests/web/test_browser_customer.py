"""The customer's pages in a real browser (PAGES.md, "Customer pages", "Accessibility", "Languages", "Tests in a
real browser"): enrolling with the keyboard leads to a card page whose QR, read back from a screenshot, is the
card's; a second enrolment and the lost-card form answer a neutral page and the card's link arrives by mail;
the wallet buttons answer a pass and a save link; every page in every language is accessible and translated.
The screenshots of docs/user-journeys.md are taken here (docs/screenshots/)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import httpx
import pytest
from playwright.async_api import Page, expect
from sqlalchemy import func, select

from loyalty.models import Customer, LoyaltyCard, WalletOutbox
from loyalty.services.card_numbers import format_card_number
from loyalty.worker import Worker
from tests.browser import (
    BrowserLog,
    LiveApp,
    decode_qr,
    live_app_on,
    screenshot,
)
from tests.fixtures import DevGoogle, DevWallet
from tests.smtp_peer import SmtpPeer, smtp_peer
from tests.web.page_checks import check_page

pytestmark = [pytest.mark.anyio, pytest.mark.browser, pytest.mark.postgres]

LANGUAGES = ("en", "fr", "de", "lb")
COALESCING = timedelta(seconds=3)  # the worker sends an outbox row once it is older than this (tests/fixtures.drain)
PAST_THE_COOLDOWN = timedelta(minutes=16)  # the tenant's programme: 15 minutes between two stamps
PKPASS = "application/vnd.apple.pkpass"
GOOGLE_SAVE = "https://pay.google.com/gp/v/save/"


@pytest.fixture
async def wallet_app(pg_database_url: str, dev_wallet: DevWallet, dev_google: DevGoogle) -> AsyncIterator[LiveApp]:
    """The live app with both development wallets, so the card page shows its two wallet buttons."""
    async with live_app_on(pg_database_url, **{**dev_wallet.settings, **dev_google.settings}) as live:
        yield live


@pytest.fixture
def smtp() -> Iterator[SmtpPeer]:
    with smtp_peer() as peer:
        yield peer


# --- helpers ----------------------------------------------------------------------------------------


async def send_mail(live: LiveApp, smtp: SmtpPeer) -> None:
    """`loyalty worker` on the live app's database, sending through the local SMTP peer until nothing is due.
    The peer keeps a message before it answers, so it has every message when this returns."""
    worker = Worker(live.database, live.settings.model_copy(update={"smtp_url": smtp.url}), live.clock)
    live.clock.advance(COALESCING)
    while await worker.run_once():
        pass


async def card_of(live: LiveApp, email: str) -> LoyaltyCard:
    async with live.database.unit_of_work() as session:
        card = await session.scalar(
            select(LoyaltyCard)
            .join(Customer, Customer.id == LoyaltyCard.customer_id)
            .where(Customer.email_normalised == email, LoyaltyCard.program_id == live.tenant.program_id)
        )
    assert card is not None, f"no card for {email}"
    return card


async def stamp(live: LiveApp, card_id: int) -> None:
    """A stamp through the vendor API, as a counter would give it (the tenant's key and staff PIN)."""
    async with httpx.AsyncClient(base_url=live.base_url) as client:
        answer = await client.post(
            "/api/v1/vendor/loyalty/stamp",
            json={"card_id": card_id, "staff_pin": live.tenant.pin},
            headers=live.tenant.headers,
        )
    assert answer.status_code == 201, answer.text


# --- journeys ---------------------------------------------------------------------------------------


async def test_enrol_with_the_keyboard_then_the_card_its_mail_and_the_wallet_buttons(
    wallet_app: LiveApp, page: Page, smtp: SmtpPeer
) -> None:
    live = wallet_app
    # The poster's QR leads to the enrolment form. It is shown in a page of its own for the documentation's
    # screenshot: Chromium does not take full-page screenshots of an SVG document (Playwright times out).
    await page.set_content(f'<html lang="en"><body><img src="{live.url("/join/cafe-one/qr.svg")}" alt="QR"></body>')
    [address] = decode_qr(await page.screenshot())
    assert address == live.url("/join/cafe-one")
    await screenshot(page, "join-qr")
    await page.goto(address)
    await expect(page.locator("html")).to_have_attribute("lang", "en")  # the browser's Accept-Language
    await screenshot(page, "enrolment-form")

    # Enrol with the keyboard: each control in the tab order, labelled, the form submitted with Enter.
    email = page.get_by_label("E-mail address")
    await email.fill("lea@example.com")
    await email.press("Tab")
    name = page.get_by_label("First name (optional)")
    await expect(name).to_be_focused()
    await page.keyboard.type("Léa")
    await page.keyboard.press("Tab")
    language = page.get_by_role("combobox", name="Language")
    await expect(language).to_be_focused()
    await language.select_option(label="Français")
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("checkbox", name=re.compile("news and offers"))).to_be_focused()
    await page.keyboard.press("Tab")  # the honeypot is out of the tab order
    await expect(page.get_by_role("link", name=re.compile("Privacy notice|Protection des données"))).to_be_focused()
    await page.keyboard.press("Tab")
    submit = page.get_by_role("button", name="Get my card")
    await expect(submit).to_be_focused()
    await page.keyboard.press("Enter")

    await expect(page).to_have_url(re.compile(r"/card/[A-Za-z0-9_-]+$"))
    await page.wait_for_load_state("load")  # the QR picture too
    card = await card_of(live, "lea@example.com")
    assert page.url == live.url(f"/card/{card.card_token}")
    await expect(page.locator("html")).to_have_attribute("lang", "fr")  # the language chosen in the form
    assert decode_qr(await page.screenshot(full_page=True)) == [card.qr_code]
    await expect(page.locator(".qr .card-number")).to_have_text(format_card_number(card.card_number))
    await screenshot(page, "card-new")

    # The new card's own mail leaves first, so what follows is the second enrolment's alone.
    await send_mail(live, smtp)
    assert [envelope.rcpt_tos for envelope in smtp.envelopes] == [["lea@example.com"]]
    smtp.reset()

    # The same address again: the neutral page, nothing of the card on it, and the card's link by mail.
    await page.goto(live.url("/join/cafe-one"))
    await page.get_by_label("E-mail address").fill("lea@example.com")
    await page.get_by_role("button", name="Get my card").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Check your inbox")
    html = await page.content()
    for secret in (card.card_token, card.card_number, format_card_number(card.card_number), card.qr_code):
        assert secret not in html
    await screenshot(page, "check-your-inbox")

    await send_mail(live, smtp)
    [mail] = smtp.messages
    assert smtp.envelopes[0].rcpt_tos == ["lea@example.com"]
    link = live.url(f"/card/{card.card_token}")
    text, body = mail.get_body(preferencelist=("plain",)), mail.get_body(preferencelist=("html",))
    assert text is not None and body is not None
    assert link in text.get_content()

    # The mail as the customer sees it (in the card's language), and its link opened from there.
    await page.set_content(body.get_content())
    await screenshot(page, "card-link-mail")
    await page.locator(f'a[href="{link}"]').click()
    await expect(page).to_have_url(link)
    await expect(page.locator(".qr .card-number")).to_have_text(format_card_number(card.card_number))

    # Two visits later, past the cooldown in between; the page in English for the documentation.
    await stamp(live, card.id)
    live.clock.advance(PAST_THE_COOLDOWN)
    await stamp(live, card.id)
    await page.goto(live.url(f"/card/{card.card_token}?lang=en"))
    await expect(page.locator(".progress")).to_contain_text("2 stamps out of 3")
    await expect(page.locator("tbody tr")).to_have_count(2)
    await screenshot(page, "card-page")

    # The wallet buttons, fetched rather than followed: the browser stays on 127.0.0.1.
    apple = await page.get_by_role("link", name="Add to Apple Wallet").get_attribute("href")
    google = await page.get_by_role("link", name="Add to Google Wallet").get_attribute("href")
    assert apple is not None and google is not None
    async with httpx.AsyncClient(base_url=live.base_url) as client:
        pkpass, save = await client.get(apple), await client.get(google)
    assert pkpass.status_code == 200 and pkpass.headers["content-type"] == PKPASS
    assert pkpass.content.startswith(b"PK\x03\x04")  # a zip archive
    assert save.status_code == 303 and save.headers["location"].startswith(GOOGLE_SAVE)


async def test_the_lost_card_form_answers_the_same_for_a_known_and_an_unknown_address(
    live_app: LiveApp, page: Page
) -> None:
    answers: list[tuple[str, str]] = []
    for address in ("customer@example.com", "nobody@example.com"):
        await page.goto(live_app.url("/join/cafe-one/lost"))
        if not answers:
            await screenshot(page, "lost-form")
        await page.get_by_label("E-mail address").fill(address)
        await page.get_by_role("button", name="Send the link").click()
        await expect(page.get_by_role("heading", level=1)).to_have_text("Check your inbox")
        answers.append((page.url, await page.locator("body").inner_html()))

    assert answers[0] == answers[1]
    async with live_app.database.unit_of_work() as session:
        mails = await session.scalar(
            select(func.count()).select_from(WalletOutbox).where(WalletOutbox.provider == "mail")
        )
    assert mails == 1  # the known address's link, queued for the worker


async def test_every_customer_page_speaks_each_language_and_is_accessible(
    wallet_app: LiveApp, page: Page, browser_log: BrowserLog
) -> None:
    live = wallet_app
    browser_log.expect_console_error(r"status of 404 .*/join/no-such-shop\?lang=")  # the 404 page's own status
    await stamp(live, live.tenant.card_id)  # a row in "Last visits"
    for locale in LANGUAGES:
        await page.goto(live.url(f"/join/cafe-one?lang={locale}"))
        await check_page(page, locale)

        await page.goto(live.url(f"/card/{live.tenant.card_token}?lang={locale}"))
        await check_page(page, locale)

        await page.goto(live.url(f"/join/cafe-one/privacy?lang={locale}"))
        await check_page(page, locale)

        await page.goto(live.url(f"/join/cafe-one/lost?lang={locale}"))
        await check_page(page, locale)
        await page.locator("#email").fill("nobody@example.com")
        await page.locator("button[type=submit]").click()  # the language is the cookie's now
        await expect(page).to_have_url(live.url("/join/cafe-one/lost"))
        await check_page(page, locale)

        answer = await page.goto(live.url(f"/join/no-such-shop?lang={locale}"))
        assert answer is not None and answer.status == 404
        await check_page(page, locale)
