"""The platform admin's pages over HTTP (PAGES.md, "Platform admin"): the overview with every shop and
"Create a shop"; a shop's page (change its details, switch it off and on, invite its owner, create and revoke
its API keys); the wallet health (a parked update retried, the certificates' expiry, Google's review of the
classes); forged forms change nothing, and nobody but a platform admin gets in."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from loyalty.app import create_app
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.models import ApiKey, GoogleWalletClass, OutboxStatus, User, Vendor, WalletOutbox
from loyalty.services import accounts
from loyalty.services.context import Context
from loyalty.wallet.dev_certs import DEV_GOOGLE_ISSUER_ID, write_dev_certificates
from tests.fixtures import START, DevWallet, test_settings
from tests.tenants import Tenant
from tests.web.test_dashboard_http import FORM, PASSWORD, _accept, _invite, _sign_in, _token

pytestmark = pytest.mark.anyio

STAMP = "/api/v1/vendor/loyalty/stamp"


async def _signed_in_admin(client: httpx.AsyncClient, database: Database, settings: Settings, clock: FixedClock) -> str:
    """A platform admin signed in on `client` (invited as by `loyalty users create-admin`, password chosen);
    their CSRF token."""
    async with database.unit_of_work() as session:
        invitation = await accounts.create_admin(Context(session, settings, clock), "root@platform.lu")
    accepted = await _accept(client, invitation.path)
    assert accepted.status_code == 303 and accepted.headers["location"] == "/admin"
    return _token((await client.get("/admin")).text)


@pytest.fixture
async def admin(client: httpx.AsyncClient, database: Database, settings: Settings, clock: FixedClock) -> str:
    return await _signed_in_admin(client, database, settings, clock)


def _shown_once(page: str, element_id: str) -> str:
    """The value of the read-only field that shows a secret once (an invitation link, a new key)."""
    match = re.search(rf'id="{element_id}" type="text" readonly value="([^"]+)"', page)
    assert match is not None, page
    return html.unescape(match.group(1))


def _problem(page: str) -> str:
    match = re.search(r'<p class="banner bad" role="alert"[^>]*>([^<]+)</p>', page)
    assert match is not None, page
    return html.unescape(match.group(1))


async def _vendor(database: Database, vendor_id: int) -> Vendor:
    async with database.unit_of_work() as session:
        vendor = await session.get(Vendor, vendor_id)
        assert vendor is not None
        return vendor


async def _vendor_count(database: Database) -> int:
    async with database.unit_of_work() as session:
        return len(list(await session.scalars(select(Vendor.id))))


async def test_an_admin_creates_a_shop_and_is_told_when_its_address_is_taken(
    client: httpx.AsyncClient, admin: str, tenant: Tenant, database: Database
) -> None:
    fields = {"csrf_token": admin, "name": "Bäckerei Klein", "slug": "", "timezone": "", "default_locale": "de"}
    made = await client.post("/admin", data=fields, headers=FORM)
    assert made.status_code == 303 and made.headers["location"].startswith("/admin/vendors/")
    page = await client.get(made.headers["location"])
    assert page.status_code == 200 and "<h1>Bäckerei Klein</h1>" in page.text and "Created." in page.text
    vendor_id = int(made.headers["location"].split("/")[-1].split("?")[0])
    vendor = await _vendor(database, vendor_id)
    assert (vendor.slug, vendor.timezone, vendor.default_locale, vendor.is_active) == (
        "backerei-klein", "Europe/Luxembourg", "de", True,
    )  # fmt: skip
    overview = (await client.get("/admin")).text
    assert f'<a href="/admin/vendors/{vendor_id}">Bäckerei Klein</a>' in overview

    before = await _vendor_count(database)
    taken = {**fields, "name": "Another café", "slug": tenant.slug, "timezone": "Europe/Paris"}
    refused = await client.post("/admin", data=taken, headers=FORM)
    assert refused.status_code == 409 and _problem(refused.text) == "A vendor with this slug already exists"
    assert 'value="Another café"' in refused.text and 'value="Europe/Paris"' in refused.text  # kept as typed
    assert 'id="new-slug"' in refused.text and 'aria-invalid="true" aria-describedby="vendor-problem' in refused.text
    for wrong, said in (
        ({"slug": "Not A Slug"}, "lowercase letters, digits and single hyphens"),
        ({"timezone": "Mars/Olympus"}, "IANA list"),
        ({"name": " "}, "Give the shop a name"),
        ({"default_locale": "xx"}, "one of the four languages"),
    ):
        answer = await client.post("/admin", data={**fields, **wrong}, headers=FORM)
        assert answer.status_code == 400 and said in _problem(answer.text), wrong
    assert await _vendor_count(database) == before


async def test_the_overview_shows_each_shops_last_30_days_and_last_activity(
    client: httpx.AsyncClient, admin: str, tenant: Tenant, clock: FixedClock
) -> None:
    def row_of(page: str) -> list[str]:
        match = re.search(rf'<a href="/admin/vendors/{tenant.vendor_id}">.*?</tr>', page, re.S)
        assert match is not None, page
        return re.findall(r"<td>([^<]*)</td>", match.group(0))

    assert row_of((await client.get("/admin")).text)[-3:] == ["0", "0", "—"]  # entries, last 30 days, last activity
    stamped = await client.post(
        STAMP, json={"card_id": tenant.card_id, "staff_pin": tenant.pin}, headers=tenant.headers
    )
    assert stamped.status_code == 201
    expected = (await client.get("/api/v1/vendor/loyalty/stats", headers=tenant.headers)).json()
    assert row_of((await client.get("/admin")).text)[-3:] == [
        "1", str(expected["transactions_30d"]), "21 Nov 2026, 09:00:00",
    ]  # fmt: skip
    clock.advance(timedelta(days=31))
    await _sign_in_again(client)
    assert row_of((await client.get("/admin")).text)[-3:] == ["1", "0", "21 Nov 2026, 09:00:00"]


async def _sign_in_again(client: httpx.AsyncClient) -> None:
    """The admin signs in again (a month later, the session has ended)."""
    client.cookies.clear()
    page = await client.get("/admin/login")
    form = {"csrf_token": _token(page.text), "email": "root@platform.lu", "password": PASSWORD}
    assert (await client.post("/admin/login", data=form, headers=FORM)).status_code == 303


async def test_an_admin_changes_a_shop_and_switches_it_off_and_on(
    app: FastAPI, client: httpx.AsyncClient, admin: str, admin_key: str, tenant: Tenant, other_tenant: Tenant,
    database: Database,
) -> None:  # fmt: skip
    page = f"/admin/vendors/{tenant.vendor_id}"
    edit = {"csrf_token": admin, "action": "edit", "name": "Café Um Eck", "slug": "cafe-um-eck"}
    changed = await client.post(page, data={**edit, "timezone": "Europe/Berlin", "default_locale": "lb"}, headers=FORM)
    assert changed.status_code == 200 and "Saved." in changed.text and "<h1>Café Um Eck</h1>" in changed.text
    vendor = await _vendor(database, tenant.vendor_id)
    assert (vendor.name, vendor.slug, vendor.timezone, vendor.default_locale) == (
        "Café Um Eck", "cafe-um-eck", "Europe/Berlin", "lb",
    )  # fmt: skip
    taken = await client.post(
        page, data={**edit, "slug": other_tenant.slug, "timezone": "UTC", "default_locale": "fr"}, headers=FORM
    )
    assert taken.status_code == 409 and _problem(taken.text) == "A vendor with this slug already exists"
    bad = await client.post(
        page, data={**edit, "name": "x", "timezone": "Nowhere", "default_locale": "fr"}, headers=FORM
    )
    assert bad.status_code == 400 and "IANA list" in _problem(bad.text)
    assert 'value="Nowhere"' in bad.text  # drawn as typed, to be corrected
    vendor = await _vendor(database, tenant.vendor_id)
    assert (vendor.name, vendor.slug, vendor.timezone, vendor.default_locale) == (
        "Café Um Eck", "cafe-um-eck", "Europe/Berlin", "lb",
    )  # fmt: skip

    owner = httpx.AsyncClient(transport=client._transport, base_url="http://test")  # the shop's owner, elsewhere
    async with owner:
        await _accept(owner, await _invite(owner, admin_key, tenant, "owner@cafe.lu"))
        off = await client.post(page, data={"csrf_token": admin, "action": "deactivate"}, headers=FORM)
        assert off.status_code == 200 and "Switched off:" in off.text and "Switch the shop on" in off.text
        refused = await owner.get("/vendor/staff")
        assert refused.status_code == 403 and "Not possible" in refused.text  # the refusal page
        assert (
            await owner.get(f"/api/v1/vendor/loyalty/cards/{tenant.card_id}", headers=tenant.headers)
        ).status_code == 403
        on = await client.post(page, data={"csrf_token": admin, "action": "activate"}, headers=FORM)
        assert on.status_code == 200 and "Switched on:" in on.text
        assert (await owner.get("/vendor/staff")).status_code == 200
    assert (await _vendor(database, tenant.vendor_id)).is_active


async def test_an_admin_invites_an_owner_who_accepts_the_shown_link(
    client: httpx.AsyncClient, admin: str, tenant: Tenant, other_tenant: Tenant, database: Database
) -> None:
    page = f"/admin/vendors/{tenant.vendor_id}"
    invited = await client.post(
        page, data={"csrf_token": admin, "action": "invite", "email": "Anna@cafe.lu", "role": "owner"}, headers=FORM
    )
    assert invited.status_code == 200
    link = _shown_once(invited.text, "invitation-link")
    assert link.startswith("http://127.0.0.1:8000/vendor/invite/")
    assert "Anna@cafe.lu" in invited.text and "Invited: no password chosen yet" in invited.text
    assert link not in (await client.get(page)).text  # shown once

    shop = httpx.AsyncClient(transport=client._transport, base_url="http://test")
    async with shop:
        accepted = await _accept(shop, link.removeprefix("http://127.0.0.1:8000"))
        assert accepted.status_code == 303 and accepted.headers["location"] == "/vendor"
        assert (await shop.get("/vendor/users")).status_code == 200  # an owner
    async with database.unit_of_work() as session:
        [user] = await session.scalars(select(User).where(User.vendor_id == tenant.vendor_id))
        assert (user.email, user.role, user.password_hash is not None) == ("Anna@cafe.lu", "owner", True)
    assert "Invited: no password chosen yet" not in (await client.get(page)).text

    again = await client.post(
        f"/admin/vendors/{other_tenant.vendor_id}",
        data={"csrf_token": admin, "action": "invite", "email": "anna@cafe.lu", "role": "manager"},
        headers=FORM,
    )
    assert again.status_code == 409 and _problem(again.text) == "A user with this e-mail already exists"
    nonsense = await client.post(page, data={"csrf_token": admin, "action": "invite", "email": "anna"}, headers=FORM)
    assert nonsense.status_code == 400 and _problem(nonsense.text) == "Give an e-mail address and a role."


async def test_a_key_is_shown_once_works_against_the_vendor_api_and_is_revoked(
    client: httpx.AsyncClient, admin: str, tenant: Tenant, other_tenant: Tenant, database: Database
) -> None:
    page = f"/admin/vendors/{tenant.vendor_id}"
    made = await client.post(
        page, data={"csrf_token": admin, "action": "key", "name": "Till by the door", "scope": "counter"}, headers=FORM
    )
    assert made.status_code == 200
    key = _shown_once(made.text, "new-key")
    assert key.startswith("lyk_live_") and key not in (await client.get(page)).text  # shown once
    bearer = {"authorization": f"Bearer {key}"}
    assert (await client.get(f"/api/v1/vendor/loyalty/cards/{tenant.card_id}", headers=bearer)).status_code == 200
    assert (await client.get("/api/v1/vendor/loyalty/stats", headers=bearer)).status_code == 403  # counter scope

    async with database.unit_of_work() as session:
        till = await session.scalar(select(ApiKey).where(ApiKey.name == "Till by the door"))
        theirs = await session.scalar(select(ApiKey).where(ApiKey.vendor_id == other_tenant.vendor_id))
        assert till is not None and theirs is not None and till.scope == "counter"
    foreign = await client.post(
        page, data={"csrf_token": admin, "action": "revoke", "key_id": str(theirs.id)}, headers=FORM
    )
    assert foreign.status_code == 404  # another shop's key is not revoked from this shop's page
    assert (await client.get("/api/v1/vendor/loyalty/stats", headers=other_tenant.headers)).status_code == 200
    revoked = await client.post(
        page, data={"csrf_token": admin, "action": "revoke", "key_id": str(till.id)}, headers=FORM
    )
    assert revoked.status_code == 200 and "Revoked: the key is refused from now on." in revoked.text
    assert (await client.get(f"/api/v1/vendor/loyalty/cards/{tenant.card_id}", headers=bearer)).status_code == 401
    nameless = await client.post(page, data={"csrf_token": admin, "action": "key", "name": " "}, headers=FORM)
    assert nameless.status_code == 400 and "Give the key a name" in _problem(nameless.text)


async def _parked_row(database: Database, tenant: Tenant) -> int:
    """An Apple update given up after failures (as the worker leaves it after APNs refused the certificate)."""
    async with database.unit_of_work() as session:
        row = WalletOutbox(
            vendor_id=tenant.vendor_id, card_id=tenant.card_id, provider="apple", pass_version=START,
            status=OutboxStatus.PARKED, attempts=8, due_at=START, last_attempt_at=START,
            last_error="APNs 403 BadCertificate", created_at=START,
        )  # fmt: skip
        session.add(row)
        await session.flush()
        return row.id


async def test_a_parked_update_is_retried_from_the_wallet_page(
    client: httpx.AsyncClient, admin: str, tenant: Tenant, database: Database
) -> None:
    row_id = await _parked_row(database, tenant)
    overview = (await client.get("/admin")).text
    assert "1 wallet update was given up after failures." in overview and 'href="/admin/wallet"' in overview
    page = await client.get("/admin/wallet")
    assert page.status_code == 200 and "APNs 403 BadCertificate" in page.text and "Cafe-One" in page.text
    counts = re.search(r"<th scope=\"row\">Apple Wallet</th><td>(\d+)</td><td>(\d+)</td>", page.text)
    assert counts is not None and counts.groups() == ("0", "1")
    assert "Not configured: no Apple Wallet passes are offered." in page.text  # these settings have none

    retried = await client.post(
        "/admin/wallet", data={"csrf_token": admin, "action": "retry", "row_id": str(row_id)}, headers=FORM
    )
    assert retried.status_code == 200 and "Sent again" in retried.text
    async with database.unit_of_work() as session:
        row = await session.get(WalletOutbox, row_id)
        assert row is not None and (row.status, row.attempts) == (OutboxStatus.PENDING, 0)
    counts = re.search(r"<th scope=\"row\">Apple Wallet</th><td>(\d+)</td><td>(\d+)</td><td>([^<]+)</td>", retried.text)
    assert counts is not None and counts.groups() == ("1", "0", "0 seconds")  # due now
    for unknown in ("999999", "x", ""):
        gone = await client.post(
            "/admin/wallet", data={"csrf_token": admin, "action": "retry", "row_id": unknown}, headers=FORM
        )
        assert gone.status_code == 404 and _problem(gone.text) == "Wallet update not found"


@pytest.fixture
def wallet_settings(database_url: str, tmp_path: Path) -> Settings:
    """Apple Wallet on development certificates that expire 20 days after START, and Google Wallet configured
    (its development key; nothing is sent in these tests)."""
    paths = write_dev_certificates(tmp_path, now=START - timedelta(days=1), leaf_expires_at=START + timedelta(days=20))
    return test_settings(
        database_url, **DevWallet(paths).settings, google_issuer_id=DEV_GOOGLE_ISSUER_ID,
        google_service_account_file=paths.google_service_account,
    )  # fmt: skip


@pytest.fixture
async def wallet_client(
    wallet_settings: Settings, clock: FixedClock, database: Database
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(wallet_settings, clock=clock, database=database)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        yield http


async def test_the_certificates_expiry_and_googles_review_are_shown(
    wallet_client: httpx.AsyncClient, wallet_settings: Settings, database: Database, clock: FixedClock, tenant: Tenant
) -> None:
    async with database.unit_of_work() as session:
        session.add(
            GoogleWalletClass(
                program_id=tenant.program_id,
                class_id=f"{DEV_GOOGLE_ISSUER_ID}.p{tenant.program_id}",
                synced_fields={},
                synced_at=START,
                review_status="rejected",
                last_error="the logo is not the shop's",
                created_at=START,
            )
        )
    await _signed_in_admin(wallet_client, database, wallet_settings, clock)
    page = (await wallet_client.get("/admin/wallet")).text
    certificates = re.search(r'<dl class="facts admin-facts" id="apple-certificates">(.*?)</dl>', page, re.S)
    assert certificates is not None
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", certificates.group(1)))
    assert "Pass signing certificate expires 11 Dec 2026 Expires in 20 days: renew it now." in text
    assert "WWDR certificate expires 17 Nov 2036 in 3,649 days" in text  # the stand-in lives 10 years: no warning
    classes = re.search(r'<table id="classes">(.*?)</table>', page, re.S)
    assert (
        classes is not None and "Rejected" in classes.group(1) and "the logo is not the shop&#39;s" in classes.group(1)
    )


async def test_a_forged_form_changes_nothing(
    client: httpx.AsyncClient, admin: str, tenant: Tenant, database: Database
) -> None:
    row_id = await _parked_row(database, tenant)
    before = await _vendor_count(database)
    page = f"/admin/vendors/{tenant.vendor_id}"
    forged = [
        ("/admin", {"name": "Forged", "slug": "forged"}, {}),
        (page, {"action": "deactivate"}, {}),
        (page, {"action": "key", "name": "Forged"}, {}),
        ("/admin/wallet", {"action": "retry", "row_id": str(row_id)}, {}),
        (page, {"action": "deactivate", "csrf_token": "é"}, {}),
        (page, {"action": "deactivate", "csrf_token": admin}, {"origin": "https://evil.example"}),
    ]
    for path, data, headers in forged:
        answer = await client.post(path, data=data, headers={**FORM, **headers})
        assert answer.status_code == 403 and "This form has expired" in answer.text, (path, data)
    assert await _vendor_count(database) == before
    assert (await _vendor(database, tenant.vendor_id)).is_active
    async with database.unit_of_work() as session:
        assert await session.scalar(select(ApiKey.id).where(ApiKey.name == "Forged")) is None
        row = await session.get(WalletOutbox, row_id)
        assert row is not None and row.status == OutboxStatus.PARKED


async def test_nobody_but_a_platform_admin_gets_in(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant, database: Database, settings: Settings, clock: FixedClock
) -> None:
    paths = ("/admin", f"/admin/vendors/{tenant.vendor_id}", "/admin/wallet")
    for path in paths:  # nobody signed in
        assert (await client.get(path)).headers["location"] == "/admin/login"
        assert (await client.post(path, data={"action": "deactivate"}, headers=FORM)).status_code == 303
    await _accept(client, await _invite(client, admin_key, tenant, "owner@cafe.lu"))  # a shop's owner
    token = _token((await client.get("/vendor/staff")).text)
    for path in paths:
        answer = await client.get(path)
        assert answer.status_code == 303 and answer.headers["location"] == "/admin/login"
        posted = await client.post(path, data={"csrf_token": token, "action": "deactivate"}, headers=FORM)
        assert posted.status_code == 303 and posted.headers["location"] == "/admin/login"
    assert (await _vendor(database, tenant.vendor_id)).is_active

    client.cookies.clear()
    admin = await _signed_in_admin(client, database, settings, clock)
    for wrong in ("999999", "abc", "²", "9" * 5000, "-1"):
        assert (await client.get(f"/admin/vendors/{wrong}")).status_code == 404, wrong
        posted = await client.post(
            f"/admin/vendors/{wrong}", data={"csrf_token": admin, "action": "activate"}, headers=FORM
        )
        assert posted.status_code == 404 and "Vendor not found" in posted.text, wrong
    assert (await _sign_in(client, "root@platform.lu")).status_code == 401  # not at a shop's sign-in
