"""The worker mails people who sign in their invitation (PAGES.md, "Mail"): invited through the admin API or
by an owner on /vendor/users, invited again; over SMTP (the local peer) or into the mail folder. The link is
made when the mail is sent (the outbox holds none) and accepts the invitation; once accepted, every other
link of the invitation is useless."""

from __future__ import annotations

import re
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.models import OutboxStatus, User, UserTokenPurpose, Vendor, WalletOutbox
from loyalty.services import accounts, outbox
from loyalty.services.context import Context
from loyalty.worker.loop import Worker
from tests.fixtures import drain
from tests.smtp_peer import SmtpPeer
from tests.tenants import Tenant
from tests.web.test_dashboard_http import FORM, _accept, _invite, _token
from tests.web.test_reset_http import BASE, browser, link_in

pytestmark = pytest.mark.anyio

INVALID = "This link is wrong, was used already or has expired"


@pytest.fixture
def settings(mail_settings: Settings) -> Settings:
    return mail_settings


async def test_an_invitation_through_the_admin_api_is_mailed_with_a_link_that_accepts_it(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin_key: str,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    clock: FixedClock,
    smtp: SmtpPeer,
) -> None:
    shown = await _invite(client, admin_key, tenant, "owner@cafe.lu")
    assert smtp.messages == []  # not inside the request
    await drain(Worker(database, settings, clock), clock)

    [mail] = smtp.wait_for_messages(1)
    assert smtp.envelopes[0].rcpt_tos == ["owner@cafe.lu"]
    assert mail["Subject"] == "Your invitation to Cafe-One's dashboard" and mail["Content-Language"] == "en"
    mailed = link_in(mail)
    assert mailed.startswith("/vendor/invite/") and mailed != shown
    async with database.unit_of_work() as session:  # the row names the person, never the link
        row = (await session.scalars(select(WalletOutbox).where(WalletOutbox.user_id.is_not(None)))).one()
        assert (row.purpose, row.provider, row.card_id, row.program_id) == ("invitation", "mail", None, None)

    async with browser(app) as owner:
        accepted = await _accept(owner, mailed)
        assert accepted.status_code == 303 and accepted.headers["location"] == "/vendor"
    for used in (mailed, shown):  # accepted once: neither link chooses a password again
        refused = await client.get(used)
        assert refused.status_code == 400 and INVALID in refused.text


async def test_an_owner_s_invitation_on_the_users_page_is_mailed_in_the_shop_s_language(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin_key: str,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    clock: FixedClock,
    smtp: SmtpPeer,
) -> None:
    assert (await _accept(client, await _invite(client, admin_key, tenant, "owner@cafe.lu"))).status_code == 303
    async with database.unit_of_work() as session:
        await session.execute(update(Vendor).where(Vendor.id == tenant.vendor_id).values(default_locale="fr"))
    page = await client.get("/vendor/users")
    invited = await client.post(
        "/vendor/users",
        data={"csrf_token": _token(page.text), "action": "invite", "email": "luc@cafe.lu", "role": "manager"},
        headers=FORM,
    )
    assert invited.status_code == 200 and "luc@cafe.lu" in invited.text
    await drain(Worker(database, settings, clock), clock)

    [mail] = smtp.wait_for_messages(1)  # the owner's own invitation was accepted before it was sent: no mail
    assert smtp.envelopes[0].rcpt_tos == ["luc@cafe.lu"] and mail["Content-Language"] == "fr"
    async with browser(app) as luc:
        accepted = await _accept(luc, link_in(mail))
        assert accepted.status_code == 303 and accepted.headers["location"] == "/vendor"


async def test_inviting_again_mails_a_fresh_link_and_the_earlier_ones_stop_working(
    client: httpx.AsyncClient,
    admin_key: str,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    clock: FixedClock,
    smtp: SmtpPeer,
) -> None:
    assert (await _accept(client, await _invite(client, admin_key, tenant, "owner@cafe.lu"))).status_code == 303
    page = await client.get("/vendor/users")
    csrf = _token(page.text)
    await client.post(
        "/vendor/users", data={"csrf_token": csrf, "action": "invite", "email": "luc@cafe.lu", "role": "manager"},
        headers=FORM,
    )  # fmt: skip
    await drain(Worker(database, settings, clock), clock)
    first = link_in(smtp.wait_for_messages(1)[0])
    users = await client.get("/vendor/users")
    luc = re.search(r'id="user-(\d+)">luc@cafe.lu<', users.text)
    owner = re.search(r'id="user-(\d+)">owner@cafe.lu<', users.text)
    assert luc is not None and owner is not None and "Invite again" in users.text

    again = await client.post(
        "/vendor/users", data={"csrf_token": csrf, "action": "again", "user_id": luc.group(1)}, headers=FORM
    )
    assert again.status_code == 200 and 'id="invitation-link"' in again.text
    await drain(Worker(database, settings, clock), clock)

    second = link_in(smtp.wait_for_messages(2)[1])
    assert (await client.get(first)).status_code == 400
    assert (await client.get(second)).status_code == 200
    accepted_already = await client.post(
        "/vendor/users", data={"csrf_token": csrf, "action": "again", "user_id": owner.group(1)}, headers=FORM
    )
    assert accepted_already.status_code == 409 and "already chosen a password" in accepted_already.text


async def test_without_smtp_the_invitation_is_written_to_the_mail_folder_and_its_link_works(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin_key: str,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    clock: FixedClock,
    smtp: SmtpPeer,
) -> None:
    await _invite(client, admin_key, tenant, "owner@cafe.lu")
    await drain(Worker(database, settings.model_copy(update={"smtp_url": ""}), clock), clock)

    assert smtp.messages == []
    [written] = list(settings.mail_dir.glob("*.eml"))
    mail = message_from_bytes(written.read_bytes(), policy=policy.default)
    assert isinstance(mail, EmailMessage) and mail["To"] == "owner@cafe.lu" and BASE in written.read_text()
    async with browser(app) as owner:
        assert (await _accept(owner, link_in(mail))).status_code == 303


async def test_nobody_is_mailed_once_removed_or_once_the_invitation_is_accepted(
    app: FastAPI,
    client: httpx.AsyncClient,
    admin_key: str,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    clock: FixedClock,
    smtp: SmtpPeer,
) -> None:
    shown = await _invite(client, admin_key, tenant, "owner@cafe.lu")
    await _invite(client, admin_key, tenant, "gone@cafe.lu", role="manager")
    assert (await _accept(client, shown)).status_code == 303  # before the worker came round
    async with database.unit_of_work() as session:
        await session.execute(update(User).where(User.email == "gone@cafe.lu").values(removed_at=clock.now()))

    await drain(Worker(database, settings, clock), clock)

    assert smtp.messages == []
    async with database.unit_of_work() as session:
        rows = list(await session.scalars(select(WalletOutbox).where(WalletOutbox.user_id.is_not(None))))
    assert [row.status for row in rows] == [OutboxStatus.SENT, OutboxStatus.SENT]


async def test_a_failed_mail_waits_for_its_retry_without_touching_another_person_s(
    client: httpx.AsyncClient,
    admin_key: str,
    tenant: Tenant,
    database: Database,
    settings: Settings,
    clock: FixedClock,
) -> None:
    await _invite(client, admin_key, tenant, "one@cafe.lu")
    async with database.unit_of_work() as session:
        ctx = Context(session, settings, clock)
        [first] = await outbox.claim_due(ctx, 10)
    await _invite(client, admin_key, tenant, "two@cafe.lu", role="manager")  # pending meanwhile

    async with database.unit_of_work() as session:
        await outbox.retry_later(Context(session, settings, clock), first, "SMTP: unreachable", jitter=1.0)

    async with database.unit_of_work() as session:
        rows = list(await session.scalars(select(WalletOutbox).order_by(WalletOutbox.id)))
    assert [(row.user_id, row.status, row.attempts) for row in rows] == [
        (first.user_id, OutboxStatus.PENDING, 1),
        (rows[1].user_id, OutboxStatus.PENDING, 0),
    ]
    assert rows[0].user_id != rows[1].user_id


async def test_one_pending_mail_per_person_and_purpose(
    tenant: Tenant, database: Database, settings: Settings, clock: FixedClock
) -> None:
    async with database.unit_of_work() as session:
        ctx = Context(session, settings, clock)
        invitation = await accounts.invite(ctx, tenant.vendor_id, accounts.UserInvite(email="a@cafe.lu", role="owner"))
        clock.advance(timedelta(seconds=1))
        await accounts.invite_again(ctx, invitation.user)
        await outbox.queue_user_mail(ctx, invitation.user, UserTokenPurpose.RESET)
    async with database.unit_of_work() as session:
        rows = list(await session.scalars(select(WalletOutbox).order_by(WalletOutbox.id)))
    assert sorted(str(row.purpose) for row in rows) == ["invitation", "reset"]
