"""The customer's pages over HTTP (PAGES.md, "Customer pages", "Mail", "Headers"): enrolment with its
neutral answer, the card page and its QR, the lost-link form, and the card-link mail the worker sends to a
local SMTP peer or writes to the mail folder. The same journeys in a real browser: tests/web/test_browser_*.py."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from loyalty.app import create_app
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.models import Customer, LoyaltyCard, OutboxStatus, WalletOutbox
from loyalty.worker import Worker
from tests.fixtures import DevGoogle, DevWallet, drain, outbox_rows, test_settings
from tests.smtp_peer import SmtpPeer
from tests.tenants import Tenant

pytestmark = pytest.mark.anyio

FORM = {"content-type": "application/x-www-form-urlencoded"}
CSP = "default-src 'self'; script-src 'self'; style-src 'self'"


@pytest.fixture
def settings(database_url: str, smtp: SmtpPeer, tmp_path: Path) -> Settings:
    smtp.reset()
    return test_settings(database_url, smtp_url=smtp.url, mail_dir=tmp_path / "mail", enroll_rate_limit=5)


async def join_form(client: httpx.AsyncClient, slug: str = "cafe-one") -> str:
    page = await client.get(f"/join/{slug}")
    assert page.status_code == 200, page.text
    found = re.search(r'name="attempt" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


async def join(client: httpx.AsyncClient, body: str, slug: str = "cafe-one") -> httpx.Response:
    return await client.post(f"/join/{slug}", content=body, headers=FORM)


async def test_the_enrolment_page_offers_the_programme_in_the_visitors_language(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    page = await client.get("/join/cafe-one", headers={"Accept-Language": "de-LU,de;q=0.9"})

    assert page.status_code == 200
    assert '<html lang="de">' in page.text
    assert "Sammeln Sie 3 Stempel" in page.text or "3 Stempel" in page.text
    assert 'type="email"' in page.text and 'autocomplete="email"' in page.text
    assert 'name="marketing_consent"' in page.text and "checked" not in page.text
    assert page.headers["content-security-policy"].startswith(CSP)
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["permissions-policy"] == "camera=()"


async def test_enrolling_leads_to_the_card_page_and_a_double_submit_to_the_same_card(
    client: httpx.AsyncClient, tenant: Tenant, database: Database
) -> None:
    attempt = await join_form(client)
    body = f"email=zoe%40example.com&name=Zo%C3%A9+Muller&locale=fr&attempt={attempt}"

    first, second = await join(client, body), await join(client, body)

    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    async with database.unit_of_work() as session:
        holders = list(await session.scalars(select(Customer).where(Customer.email_normalised == "zoe@example.com")))
    assert len(holders) == 1 and holders[0].locale == "fr" and holders[0].marketing_consent is False
    card = await client.get(first.headers["location"])
    assert card.status_code == 200
    assert '<html lang="fr">' in card.text  # the card's own language
    assert "0 tampon sur 3" in card.text  # French: the noun agrees with the count, and 0 is singular


async def test_an_e_mail_that_has_a_card_gets_the_neutral_page_and_the_link_by_mail(
    client: httpx.AsyncClient, tenant: Tenant, database: Database, settings: Settings, clock: FixedClock,
    smtp: SmtpPeer,
) -> None:  # fmt: skip
    attempt = await join_form(client)
    again = await join(client, f"email=customer%40example.com&attempt={attempt}")

    assert again.status_code == 200
    assert "Check your inbox" in again.text
    assert tenant.card_token not in again.text and tenant.card_number not in again.text
    await drain(Worker(database, settings, clock), clock)
    [mail] = smtp.wait_for_messages(1)
    assert smtp.envelopes[0].rcpt_tos == ["customer@example.com"]
    assert mail["Subject"] == "Your loyalty card at Cafe-One" or "Cafe" in mail["Subject"]
    text = mail.get_body(preferencelist=("plain",))
    html = mail.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert f"http://127.0.0.1:8000/card/{tenant.card_token}" in text.get_content()
    assert f'href="http://127.0.0.1:8000/card/{tenant.card_token}"' in html.get_content()


async def test_a_new_card_s_link_is_mailed_too(
    client: httpx.AsyncClient, tenant: Tenant, database: Database, settings: Settings, clock: FixedClock,
    smtp: SmtpPeer,
) -> None:  # fmt: skip
    attempt = await join_form(client)
    joined = await join(client, f"email=new%40example.com&locale=lb&attempt={attempt}")
    await drain(Worker(database, settings, clock), clock)

    [mail] = smtp.wait_for_messages(1)
    assert mail["Content-Language"] == "lb"
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None and joined.headers["location"] in body.get_content()
    assert [row.status for row in await outbox_rows(database)] == [OutboxStatus.SENT]


async def test_without_smtp_the_mail_is_written_to_the_folder(
    client: httpx.AsyncClient, tenant: Tenant, database: Database, settings: Settings, clock: FixedClock
) -> None:
    folder = settings.mail_dir
    attempt = await join_form(client)
    await join(client, f"email=folder%40example.com&attempt={attempt}")

    await drain(Worker(database, settings.model_copy(update={"smtp_url": ""}), clock), clock)

    [written] = list(folder.glob("*.eml"))
    assert "folder@example.com" in written.read_text()


async def test_the_honeypot_and_a_bad_address_create_nothing(
    client: httpx.AsyncClient, tenant: Tenant, database: Database
) -> None:
    attempt = await join_form(client)
    bot = await join(client, f"email=bot%40example.com&website=http%3A%2F%2Fspam&attempt={attempt}")
    typo = await join(client, f"email=not-an-address&attempt={attempt}x")

    assert bot.status_code == 200 and "Check your inbox" in bot.text
    assert typo.status_code == 400
    assert 'aria-invalid="true"' in typo.text and 'aria-describedby="email-error"' in typo.text
    async with database.unit_of_work() as session:
        assert len(list(await session.scalars(select(LoyaltyCard)))) == 1  # the tenant's own


async def test_the_card_page_is_private_and_shows_the_balance(client: httpx.AsyncClient, tenant: Tenant) -> None:
    stamped = await client.post(
        "/api/v1/vendor/loyalty/stamp",
        json={"card_id": tenant.card_id, "staff_pin": tenant.pin},
        headers=tenant.headers,
    )
    assert stamped.status_code == 201

    page = await client.get(f"/card/{tenant.card_token}", headers={"Accept-Language": "en"})

    assert page.status_code == 200
    assert page.headers["referrer-policy"] == "no-referrer" and page.headers["cache-control"] == "no-store"
    assert '<meta name="robots" content="noindex,nofollow">' in page.text
    assert "1 stamp out of 3" in page.text and "2 more stamps to your reward" in page.text
    assert "Next stamp from Nov 21, 2026" in page.text or "Next stamp from 21 Nov 2026" in page.text  # the cooldown
    grouped = " ".join(tenant.card_number[i : i + 4] for i in range(0, 16, 4))
    assert grouped in page.text and f'alt="QR code for card {grouped}"' in page.text
    assert "Stamp earned" in page.text


async def test_the_qr_is_an_svg_that_is_not_cached(client: httpx.AsyncClient, tenant: Tenant) -> None:
    qr = await client.get(f"/card/{tenant.card_token}/qr.svg")

    assert qr.status_code == 200 and qr.headers["content-type"] == "image/svg+xml"
    assert qr.headers["cache-control"] == "no-store"
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in qr.text  # a whole document, openable on its own


async def test_the_lost_link_form_answers_the_same_whether_or_not_a_card_exists(
    client: httpx.AsyncClient, tenant: Tenant, database: Database
) -> None:
    known = await client.post("/join/cafe-one/lost", content="email=customer%40example.com", headers=FORM)
    unknown = await client.post("/join/cafe-one/lost", content="email=nobody%40example.com", headers=FORM)

    assert known.status_code == unknown.status_code == 200
    assert known.text == unknown.text
    [row] = await outbox_rows(database)
    assert (row.card_id, row.provider) == (tenant.card_id, "mail")


async def test_unknown_pages_and_too_many_attempts_answer_html(client: httpx.AsyncClient, tenant: Tenant) -> None:
    assert (await client.get("/join/no-such-shop")).status_code == 404
    assert (await client.get("/card/no-such-token")).status_code == 404
    answers = [
        await client.post("/join/cafe-one/lost", content="email=x%40example.com", headers=FORM) for _ in range(6)
    ]
    assert [answer.status_code for answer in answers] == [200] * 5 + [429]
    assert answers[-1].headers["content-type"].startswith("text/html")


async def test_an_erased_customer_gets_no_mail(
    client: httpx.AsyncClient, tenant: Tenant, database: Database, settings: Settings, clock: FixedClock,
    smtp: SmtpPeer,
) -> None:  # fmt: skip
    await client.post("/join/cafe-one/lost", content="email=customer%40example.com", headers=FORM)
    customer = (await client.get(f"/api/v1/vendor/loyalty/cards/{tenant.card_id}", headers=tenant.headers)).json()
    erased = await client.post(
        f"/api/v1/vendor/loyalty/customers/{customer['customer']['id']}/erase", headers=tenant.headers
    )
    assert erased.status_code == 204

    await drain(Worker(database, settings, clock), clock)

    assert smtp.messages == []
    async with database.unit_of_work() as session:
        rows = list(await session.scalars(select(WalletOutbox).where(WalletOutbox.provider == "mail")))
    assert [row.status for row in rows] == [OutboxStatus.SENT]


async def test_the_privacy_notice_names_the_vendor_as_controller_and_is_linked_from_enrolment(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    form = await client.get("/join/cafe-one")
    notice = await client.get("/join/cafe-one/privacy", headers={"Accept-Language": "fr"})

    assert 'href="/join/cafe-one/privacy"' in form.text
    assert notice.status_code == 200 and '<html lang="fr">' in notice.text
    assert "Cafe-One gère ce programme de fidélité" in notice.text and "(le sous-traitant)" in notice.text
    assert (await client.get("/join/no-such-shop/privacy")).status_code == 404


async def test_the_phones_own_wallet_comes_first(
    tenant: Tenant, database_url: str, database: Database, clock: FixedClock, dev_wallet: DevWallet,
    dev_google: DevGoogle,
) -> None:  # fmt: skip
    """Both buttons for every browser (PAGES.md): Google's first on Android, Apple's first elsewhere."""
    settings = test_settings(database_url, **{**dev_wallet.settings, **dev_google.settings})
    app = create_app(settings, clock=clock, database=database)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        android = await client.get(
            f"/card/{tenant.card_token}", headers={"User-Agent": "Mozilla/5.0 (Linux; Android 14)"}
        )
        iphone = await client.get(
            f"/card/{tenant.card_token}", headers={"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0)"}
        )

    for page, first, second in ((android, "Google", "Apple"), (iphone, "Apple", "Google")):
        assert page.text.index(f"Add to {first} Wallet") < page.text.index(f"Add to {second} Wallet")


async def test_the_operators_official_wallet_artwork_replaces_the_text_buttons(
    tenant: Tenant, database_url: str, database: Database, clock: FixedClock, dev_wallet: DevWallet,
    dev_google: DevGoogle, tmp_path: Path,
) -> None:  # fmt: skip
    """PAGES.md: Apple and Google forbid home-made badges; the operator puts theirs in LOYALTY_WALLET_BADGES_DIR.
    Here only Apple's is there: Apple's badge, Google's plain text button."""
    (tmp_path / "apple-wallet.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>')
    settings = test_settings(database_url, **{**dev_wallet.settings, **dev_google.settings}, wallet_badges_dir=tmp_path)
    app = create_app(settings, clock=clock, database=database)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        page = await client.get(f"/card/{tenant.card_token}")
        badge = await client.get("/badges/apple-wallet.svg")

    assert '<img src="/badges/apple-wallet.svg" alt="Add to Apple Wallet"' in page.text
    assert 'class="button" href="/card/' in page.text and "Add to Google Wallet</a>" in page.text
    assert badge.status_code == 200 and badge.headers["content-type"].startswith("image/svg+xml")
