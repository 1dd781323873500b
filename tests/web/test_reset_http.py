""" "Forgot password" over HTTP (PAGES.md, "Authentication" → Accounts, "Mail"): `/vendor/reset` and
`/admin/reset` answer alike whether or not the e-mail is an account's, the worker mails a one-time link (to
the local SMTP peer), the link chooses a new password once within the hour, and every other session of the
person ends."""

from __future__ import annotations

import re
from datetime import timedelta
from email.message import EmailMessage

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.models import WalletOutbox
from loyalty.services import accounts
from loyalty.services.context import Context
from loyalty.worker.loop import Worker
from tests.fixtures import drain
from tests.smtp_peer import SmtpPeer
from tests.tenants import Tenant
from tests.web.test_dashboard_http import FORM, PASSWORD, _accept, _invite, _sign_in, _token

pytestmark = pytest.mark.anyio

BASE = "http://127.0.0.1:8000"
NEW_PASSWORD = "a quiet morning by the river"


@pytest.fixture
def settings(mail_settings: Settings) -> Settings:
    return mail_settings


def browser(app: FastAPI) -> httpx.AsyncClient:
    """Another browser: its own cookies."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def ask_for_reset(client: httpx.AsyncClient, email: str, page: str = "/vendor/reset") -> httpx.Response:
    form = await client.get(page)
    assert form.status_code == 200
    return await client.post(page, data={"csrf_token": _token(form.text), "email": email}, headers=FORM)


def link_in(mail: EmailMessage, base: str = BASE) -> str:
    """The one-time link's path, from the plain-text part (the HTML part carries the same); `base` is the
    settings' public base URL."""
    text = mail.get_body(preferencelist=("plain",))
    assert isinstance(text, EmailMessage)
    found = re.search(rf"{re.escape(base)}(/(?:vendor|admin)/(?:reset|invite)/[\w-]+)", text.get_content())
    assert found is not None, text.get_content()
    html = mail.get_body(preferencelist=("html",))
    assert isinstance(html, EmailMessage) and f'href="{base}{found.group(1)}"' in html.get_content()
    return found.group(1)


async def choose(client: httpx.AsyncClient, path: str, password: str = NEW_PASSWORD) -> httpx.Response:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    form = {"csrf_token": _token(page.text), "password": password, "password_again": password}
    return await client.post(path, data=form, headers=FORM)


async def owner_with_password(client: httpx.AsyncClient, admin_key: str, tenant: Tenant, email: str) -> None:
    assert (await _accept(client, await _invite(client, admin_key, tenant, email))).status_code == 303
    client.cookies.clear()


async def test_a_reset_mail_carries_a_link_that_works_once(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin_key: str,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    clock: FixedClock,
    smtp: SmtpPeer,
) -> None:
    await owner_with_password(client, admin_key, tenant, "owner@cafe.lu")
    login = await client.get("/vendor/login")
    assert 'href="/vendor/reset"' in login.text and "Forgot your password?" in login.text

    answer = await ask_for_reset(client, "Owner@Cafe.lu ")
    assert answer.status_code == 200 and "Check your e-mail" in answer.text
    assert smtp.messages == []  # nothing leaves inside the request
    waiting = await client.get("/api/v1/admin/loyalty/wallet/outbox", headers={"authorization": f"Bearer {admin_key}"})
    [queued] = [row for row in waiting.json()["items"] if row["purpose"] == "reset"]
    assert (queued["provider"], queued["card_id"], queued["program_id"]) == ("mail", None, None) and queued["user_id"]
    await drain(Worker(database, settings, clock), clock)

    [mail] = smtp.wait_for_messages(1)
    assert smtp.envelopes[0].rcpt_tos == ["owner@cafe.lu"] and mail["Subject"] == "Choose a new password"
    path = link_in(mail)
    assert path.startswith("/vendor/reset/")
    async with database.unit_of_work() as session:  # the outbox never held the link
        row = (await session.scalars(select(WalletOutbox).where(WalletOutbox.purpose == "reset"))).one()
        assert row.purpose == "reset" and row.status == "sent" and path.rsplit("/", 1)[1] not in repr(vars(row))

    chosen = await choose(client, path)
    assert chosen.status_code == 303 and chosen.headers["location"] == "/vendor"
    assert (await client.get("/vendor/password")).status_code == 200  # signed in
    again = await client.get(path)
    assert again.status_code == 400 and "This link is wrong, was used already or has expired" in again.text
    async with browser(app) as other:
        assert (await _sign_in(other, "owner@cafe.lu", PASSWORD)).status_code == 401
        assert (await _sign_in(other, "owner@cafe.lu", NEW_PASSWORD)).status_code == 303


async def test_an_unknown_e_mail_gets_the_same_page_and_no_mail(
    client: httpx.AsyncClient,
    admin_key: str,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    clock: FixedClock,
    smtp: SmtpPeer,
) -> None:
    await owner_with_password(client, admin_key, tenant, "owner@cafe.lu")
    await _invite(client, admin_key, tenant, "invited@cafe.lu", role="manager")  # no password yet
    await drain(Worker(database, settings, clock), clock)  # the invitation's mail
    smtp.reset()

    known = await ask_for_reset(client, "owner@cafe.lu")
    unknown = await ask_for_reset(client, "nobody@cafe.lu")
    invited = await ask_for_reset(client, "invited@cafe.lu")
    assert known.status_code == unknown.status_code == invited.status_code == 200
    assert known.text == unknown.text == invited.text
    await drain(Worker(database, settings, clock), clock)

    smtp.wait_for_messages(1)  # the worker waited for the peer's answer: every mail sent is there
    assert [envelope.rcpt_tos for envelope in smtp.envelopes] == [["owner@cafe.lu"]]


async def test_a_reset_ends_every_other_session(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin_key: str,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    clock: FixedClock,
    smtp: SmtpPeer,
) -> None:
    await owner_with_password(client, admin_key, tenant, "owner@cafe.lu")
    async with browser(app) as forgotten_tab:
        assert (await _sign_in(forgotten_tab, "owner@cafe.lu")).status_code == 303
        assert (await forgotten_tab.get("/vendor/password")).status_code == 200
        await ask_for_reset(client, "owner@cafe.lu")
        await drain(Worker(database, settings, clock), clock)
        [mail] = smtp.wait_for_messages(1)

        assert (await choose(client, link_in(mail))).status_code == 303

        ended = await forgotten_tab.get("/vendor")
        assert ended.status_code == 303 and ended.headers["location"] == "/vendor/login"
        assert (await client.get("/vendor/password")).status_code == 200


async def test_a_reset_link_works_for_an_hour(
    client: httpx.AsyncClient,
    admin_key: str,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    clock: FixedClock,
    smtp: SmtpPeer,
) -> None:
    await owner_with_password(client, admin_key, tenant, "owner@cafe.lu")
    await ask_for_reset(client, "owner@cafe.lu")
    await drain(Worker(database, settings, clock), clock)
    path = link_in(smtp.wait_for_messages(1)[0])

    clock.advance(timedelta(minutes=59))
    assert (await client.get(path)).status_code == 200
    clock.advance(timedelta(minutes=2))
    late = await client.get(path)
    assert late.status_code == 400 and "This link is wrong, was used already or has expired" in late.text
    assert (await client.get("/vendor/reset/not-a-link")).status_code == 400


async def test_reset_requests_are_limited_alike_for_known_and_unknown_e_mails(
    client: httpx.AsyncClient,
    admin_key: str,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    clock: FixedClock,
    smtp: SmtpPeer,
) -> None:
    await owner_with_password(client, admin_key, tenant, "owner@cafe.lu")
    for email in ("owner@cafe.lu", "nobody@cafe.lu"):
        answers = [(await ask_for_reset(client, email)).status_code for _ in range(4)]
        assert answers == [200, 200, 200, 429]
    busy = await ask_for_reset(client, "owner@cafe.lu")
    assert busy.status_code == 429 and "Too many attempts: wait 15 minutes and try again." in busy.text
    await drain(Worker(database, settings, clock), clock)
    assert len(smtp.wait_for_messages(1)) == 1  # three requests while one mail waited: one mail

    clock.advance(timedelta(minutes=15))
    assert (await ask_for_reset(client, "owner@cafe.lu")).status_code == 200


async def test_bad_reset_forms_are_answered_on_the_page(client: httpx.AsyncClient) -> None:
    form = await client.get("/vendor/reset")
    token = _token(form.text)
    empty = await client.post("/vendor/reset", data={"csrf_token": token, "email": " "}, headers=FORM)
    assert empty.status_code == 400 and "This is not a valid e-mail address" in empty.text
    stale = await client.post("/vendor/reset", data={"csrf_token": "é", "email": "a@b.lu"}, headers=FORM)
    assert stale.status_code == 403
    mismatch = await client.post(
        "/vendor/reset/whatever", data={"csrf_token": token, "password": "x", "password_again": "y"}, headers=FORM
    )
    assert mismatch.status_code == 400 and "This link is wrong" in mismatch.text


async def test_a_weak_or_mismatched_new_password_is_refused_and_the_link_still_works(
    client: httpx.AsyncClient,
    admin_key: str,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    clock: FixedClock,
    smtp: SmtpPeer,
) -> None:
    await owner_with_password(client, admin_key, tenant, "owner@cafe.lu")
    await ask_for_reset(client, "owner@cafe.lu")
    await drain(Worker(database, settings, clock), clock)
    path = link_in(smtp.wait_for_messages(1)[0])

    weak = await choose(client, path, "password123")
    assert weak.status_code == 400 and "at least 10 characters" in weak.text
    page = await client.get(path)
    differ = {"csrf_token": _token(page.text), "password": NEW_PASSWORD, "password_again": NEW_PASSWORD + "!"}
    mismatch = await client.post(path, data=differ, headers=FORM)
    assert mismatch.status_code == 400 and "The two passwords are not the same." in mismatch.text
    assert (await choose(client, path)).status_code == 303


async def test_a_platform_admin_resets_at_the_admin_pages(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    clock: FixedClock,
    smtp: SmtpPeer,
) -> None:
    async with database.unit_of_work() as session:
        invitation = await accounts.create_admin(Context(session, settings, clock), "admin@platform.lu")
    assert (await _accept(client, invitation.path)).status_code == 303
    client.cookies.clear()
    assert 'href="/admin/reset"' in (await client.get("/admin/login")).text

    assert (await ask_for_reset(client, "admin@platform.lu", page="/admin/reset")).status_code == 200
    await drain(Worker(database, settings, clock), clock)

    [mail] = smtp.wait_for_messages(1)
    assert mail["Content-Language"] == "en"
    path = link_in(mail)
    assert path.startswith("/admin/reset/")
    chosen = await choose(client, path)
    assert chosen.status_code == 303 and chosen.headers["location"] == "/admin"
