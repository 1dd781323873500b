"""Signing in to the vendor dashboard over HTTP (PAGES.md, "Authentication", "Sessions"): invitations from the
admin API, choosing a password, signing in and out, the session's lifetimes, CSRF, roles; the overview's
figures and the owner's terminals page."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.services import accounts
from loyalty.services.context import Context
from tests.tenants import Tenant

pytestmark = pytest.mark.anyio

FORM = {"content-type": "application/x-www-form-urlencoded"}
PASSWORD = "a long walk to the bakery"
TERMINALS = "/api/v1/vendor/loyalty/terminals"


def _token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([\w-]+)"', html)
    assert match is not None, html
    return match.group(1)


async def _invite(client: httpx.AsyncClient, admin_key: str, tenant: Tenant, email: str, role: str = "owner") -> str:
    answer = await client.post(
        f"/api/v1/admin/loyalty/vendors/{tenant.vendor_id}/users",
        json={"email": email, "role": role},
        headers={"authorization": f"Bearer {admin_key}"},
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["email"] == email and answer.json()["role"] == role
    url = str(answer.json()["invitation_url"])
    assert url.startswith("http://127.0.0.1:8000/vendor/invite/")
    return url.removeprefix("http://127.0.0.1:8000")


async def _accept(client: httpx.AsyncClient, path: str, password: str = PASSWORD) -> httpx.Response:
    page = await client.get(path)
    assert page.status_code == 200
    form = {"csrf_token": _token(page.text), "password": password, "password_again": password}
    return await client.post(path, data=form, headers=FORM)


async def _sign_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    page = await client.get("/vendor/login")
    form = {"csrf_token": _token(page.text), "email": email, "password": password}
    return await client.post("/vendor/login", data=form, headers=FORM)


async def test_an_invited_owner_chooses_a_password_and_is_signed_in(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant
) -> None:
    path = await _invite(client, admin_key, tenant, "owner@cafe.lu")
    page = await client.get(path)
    assert "owner@cafe.lu" in page.text and page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "same-origin"  # the link, a secret, never leaves as a referrer

    weak = await _accept(client, path, "password123")  # long enough, but among the most used
    assert weak.status_code == 400 and "not a common one" in weak.text
    short = await _accept(client, path, "tiny")
    assert short.status_code == 400
    accepted = await _accept(client, path)
    assert accepted.status_code == 303 and accepted.headers["location"] == "/vendor"
    cookie = accepted.headers["set-cookie"]
    assert cookie.startswith("loyalty_user=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    overview = await client.get("/vendor")
    assert overview.status_code == 200 and "Overview" in overview.text

    client.cookies.clear()
    again = await client.get(path)
    assert again.status_code == 400 and "This link is wrong, was used already or has expired" in again.text


async def test_one_account_per_e_mail_and_only_the_admin_invites(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant, other_tenant: Tenant
) -> None:
    await _invite(client, admin_key, tenant, "shared@shop.lu")
    twice = await client.post(
        f"/api/v1/admin/loyalty/vendors/{other_tenant.vendor_id}/users",
        json={"email": "SHARED@shop.lu", "role": "manager"},
        headers={"authorization": f"Bearer {admin_key}"},
    )
    assert twice.status_code == 409 and twice.json()["error_code"] == "USER_ALREADY_EXISTS"
    vendor = await client.post(
        f"/api/v1/admin/loyalty/vendors/{tenant.vendor_id}/users",
        json={"email": "x@shop.lu", "role": "owner"},
        headers=tenant.headers,
    )
    assert vendor.status_code == 403
    unknown = await client.post(
        "/api/v1/admin/loyalty/vendors/999999/users",
        json={"email": "y@shop.lu", "role": "owner"},
        headers={"authorization": f"Bearer {admin_key}"},
    )
    assert unknown.status_code == 404


async def test_an_invitation_expires_after_seven_days(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant, clock: FixedClock
) -> None:
    path = await _invite(client, admin_key, tenant, "late@cafe.lu")
    clock.advance(timedelta(days=7))
    assert (await client.get(path)).status_code == 400


async def test_sign_in_answers_alike_for_an_unknown_e_mail_and_a_wrong_password(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant
) -> None:
    await _accept(client, await _invite(client, admin_key, tenant, "owner@cafe.lu"))
    client.cookies.clear()
    wrong = await _sign_in(client, "owner@cafe.lu", "not the password at all")
    unknown = await _sign_in(client, "nobody@cafe.lu", "not the password at all")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.text.replace("owner@cafe.lu", "") == unknown.text.replace("nobody@cafe.lu", "").replace(
        _token(unknown.text), _token(wrong.text)
    )
    right = await _sign_in(client, "Owner@Cafe.lu", PASSWORD)
    assert right.status_code == 303 and right.headers["location"] == "/vendor"


async def test_wrong_passwords_are_limited_without_locking_the_owner_out(
    app: FastAPI, client: httpx.AsyncClient, admin_key: str, tenant: Tenant
) -> None:
    await _accept(client, await _invite(client, admin_key, tenant, "owner@cafe.lu"))
    client.cookies.clear()
    for _ in range(5):  # someone guessing, from this address
        assert (await _sign_in(client, "owner@cafe.lu", "guess guess guess")).status_code == 401
    refused = await _sign_in(client, "owner@cafe.lu", PASSWORD)
    assert refused.status_code == 429 and "loyalty_user=" not in refused.headers.get("set-cookie", "")
    # The owner, at the shop: five wrong passwords elsewhere do not keep them out.
    shop = httpx.ASGITransport(app=app, client=("203.0.113.9", 50000))
    async with httpx.AsyncClient(transport=shop, base_url="http://test") as owner:
        assert (await _sign_in(owner, "owner@cafe.lu", PASSWORD)).status_code == 303


async def test_what_a_form_can_carry_is_never_a_500(client: httpx.AsyncClient, admin_key: str, tenant: Tenant) -> None:
    strange = {"csrf_token": "é", "email": "ü@x", "password": "x"}
    assert (await client.post("/vendor/login", data=strange, headers=FORM)).status_code == 403
    await _accept(client, await _invite(client, admin_key, tenant, "owner@cafe.lu"))
    page = await client.get("/vendor/terminals")
    csrf = _token(page.text)
    for terminal_id in ("²", "9" * 5000, "-1", ""):
        answer = await client.post(
            "/vendor/terminals", data={"csrf_token": csrf, "action": "revoke", "terminal_id": terminal_id}, headers=FORM
        )
        assert answer.status_code == 404, terminal_id
    for _ in range(2):  # a form with no name, sent again: the same answer, not a reused key
        nameless = {"csrf_token": csrf, "action": "create", "name": " ", "attempt": "same-form"}
        assert (await client.post("/vendor/terminals", data=nameless, headers=FORM)).status_code == 400
    logout = await client.post("/vendor/logout", data={"csrf_token": "é"}, headers=FORM)
    assert logout.status_code == 403 and "text/html" in logout.headers["content-type"]


async def test_a_session_ends_after_30_minutes_unused_and_after_12_hours(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant, clock: FixedClock
) -> None:
    await _accept(client, await _invite(client, admin_key, tenant, "owner@cafe.lu"))
    clock.advance(timedelta(minutes=29))
    assert (await client.get("/vendor")).status_code == 200
    clock.advance(timedelta(minutes=31))
    idle = await client.get("/vendor")
    assert idle.status_code == 303 and idle.headers["location"] == "/vendor/login"

    await _sign_in(client, "owner@cafe.lu")
    for _ in range(25):  # busy all day: a page every 29 minutes
        clock.advance(timedelta(minutes=29))
        answer = await client.get("/vendor")
    assert answer.status_code == 303  # 12 h 5 min after signing in


async def test_signing_out_ends_the_session(client: httpx.AsyncClient, admin_key: str, tenant: Tenant) -> None:
    await _accept(client, await _invite(client, admin_key, tenant, "owner@cafe.lu"))
    cookie = client.cookies["loyalty_user"]
    page = await client.get("/vendor")
    forged = await client.post("/vendor/logout", data={}, headers=FORM)
    assert forged.status_code == 403  # without the session's token: no other site signs a person out
    out = await client.post("/vendor/logout", data={"csrf_token": _token(page.text)}, headers=FORM)
    assert out.status_code == 303 and out.headers["location"] == "/vendor/login"
    client.cookies.set("loyalty_user", cookie)  # the old cookie, kept by someone
    assert (await client.get("/vendor")).status_code == 303


async def test_a_manager_cannot_manage_terminals(client: httpx.AsyncClient, admin_key: str, tenant: Tenant) -> None:
    await _accept(client, await _invite(client, admin_key, tenant, "manager@cafe.lu", role="manager"))
    overview = await client.get("/vendor")
    assert overview.status_code == 200 and "/vendor/terminals" not in overview.text
    assert (await client.get("/vendor/terminals")).status_code == 403


async def test_the_owner_pairs_a_terminal_from_the_page(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant, other_tenant: Tenant
) -> None:
    await _accept(client, await _invite(client, admin_key, tenant, "owner@cafe.lu"))
    page = await client.get("/vendor/terminals")
    csrf = _token(page.text)
    missing = await client.post("/vendor/terminals", data={"action": "create", "name": "Till"}, headers=FORM)
    assert missing.status_code == 403
    made = await client.post(
        "/vendor/terminals", data={"csrf_token": csrf, "action": "create", "name": "Till"}, headers=FORM
    )
    code = re.search(r'id="pairing-code">(\d{4}) (\d{4})<', made.text)
    assert made.status_code == 200 and code is not None

    tablet = httpx.AsyncClient(transport=client._transport, base_url="http://test")  # another browser
    async with tablet:
        pair_page = await tablet.get("/terminal/pair")
        typed = {"pairing_code": code.group(1) + code.group(2), "csrf_token": _token(pair_page.text)}
        paired = await tablet.post("/terminal/pair", data=typed, headers=FORM)
        assert paired.status_code == 303
        listed = (await client.get(TERMINALS, headers=tenant.headers)).json()
        [till] = listed["items"]
        revoked = await client.post(
            "/vendor/terminals",
            data={"csrf_token": csrf, "action": "revoke", "terminal_id": str(till["id"])},
            headers=FORM,
        )
        assert revoked.status_code == 200 and "signed out now" in revoked.text
        assert (await tablet.get("/terminal")).status_code == 303  # sent back to pairing

    theirs = await client.post(TERMINALS, json={"name": "Theirs"}, headers=other_tenant.headers)
    foreign = await client.post(
        "/vendor/terminals",
        data={"csrf_token": csrf, "action": "revoke", "terminal_id": str(theirs.json()["id"])},
        headers=FORM,
    )
    assert foreign.status_code == 404  # another vendor's terminal does not exist here


async def test_the_overview_shows_the_programmes_last_30_days(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant
) -> None:
    stamped = await client.post(
        "/api/v1/vendor/loyalty/stamp",
        json={"card_id": tenant.card_id, "staff_pin": tenant.pin},
        headers=tenant.headers,
    )
    assert stamped.status_code == 201
    expected = (await client.get("/api/v1/vendor/loyalty/stats", headers=tenant.headers)).json()
    await _accept(client, await _invite(client, admin_key, tenant, "owner@cafe.lu"))
    page = (await client.get("/vendor")).text
    rows = re.findall(
        r"<tr data-day=\"[\d-]+\"><th scope=\"row\">[^<]+</th>\s*<td data-value=\"\d+\">(\d+)</td>"
        r"<td data-value=\"\d+\">(\d+)</td>\s*<td data-value=\"\d+\">(\d+)</td><td data-value=\"\d+\">(\d+)</td></tr>",
        page,
    )
    shown = [tuple(int(n) for n in row) for row in rows]
    wanted = [(d["stamps"], d["points_earned"], d["redemptions"], d["new_cards"]) for d in reversed(expected["daily"])]
    assert shown == wanted and sum(row[0] for row in shown) == 1
    latest = re.search(r'<table id="latest">.*?<tbody>(.*?)</tbody>', page, re.S)
    assert latest is not None and latest.group(1).count("<tr>") == 1
    assert "Stamp earned" in latest.group(1) and "<td>Staff</td><td>—</td>" in latest.group(1)  # by API key


async def test_staff_pins_are_managed_from_the_page(client: httpx.AsyncClient, admin_key: str, tenant: Tenant) -> None:
    await _accept(client, await _invite(client, admin_key, tenant, "manager@cafe.lu", role="manager"))
    page = await client.get("/vendor/staff")
    assert page.status_code == 200 and "Staff" in page.text and tenant.pin not in page.text
    csrf = _token(page.text)

    async def change(**fields: str) -> httpx.Response:
        return await client.post("/vendor/staff", data={"csrf_token": csrf, **fields}, headers=FORM)

    async def stamp_with(pin: str) -> int:
        answer = await client.post(
            "/api/v1/vendor/loyalty/stamp", json={"card_id": tenant.card_id, "staff_pin": pin}, headers=tenant.headers
        )
        return answer.status_code

    added = await change(action="create", name="Léa", pin="8642")
    assert added.status_code == 200 and "Léa" in added.text and "8642" not in added.text
    assert (await change(action="create", name="Twin", pin="8642")).status_code == 409  # unique in the programme
    assert (await change(action="create", name="Short", pin="12")).status_code == 400
    lea = re.search(r'id="pin-(\d+)">Léa<', added.text)
    assert lea is not None
    assert (await change(action="pin", pin_id=lea.group(1), pin="97531")).status_code == 200
    assert await stamp_with("8642") == 403 and await stamp_with("97531") == 201
    assert (await change(action="deactivate", pin_id=lea.group(1))).status_code == 200
    assert await stamp_with("97531") == 403  # switched off: it approves nothing
    assert (await change(action="rename", pin_id="999999", name="x")).status_code == 404


async def test_the_owner_invites_promotes_and_removes_users(
    app: FastAPI, client: httpx.AsyncClient, admin_key: str, tenant: Tenant
) -> None:
    await _accept(client, await _invite(client, admin_key, tenant, "owner@cafe.lu"))
    page = await client.get("/vendor/users")
    csrf = _token(page.text)
    owner_id = re.search(r'id="user-(\d+)">owner@cafe.lu<', page.text)
    assert page.status_code == 200 and owner_id is not None

    async def change(**fields: str) -> httpx.Response:
        return await client.post("/vendor/users", data={"csrf_token": csrf, **fields}, headers=FORM)

    alone = await change(action="role", user_id=owner_id.group(1), role="manager")
    assert alone.status_code == 409 and "A shop keeps at least one owner" in alone.text
    invited = await change(action="invite", email="luc@cafe.lu", role="manager")
    link = re.search(
        r'id="invitation-link" type="text" readonly value="http://127\.0\.0\.1:8000(/vendor/invite/[\w-]+)"',
        invited.text,
    )
    assert invited.status_code == 200 and link is not None
    assert (await change(action="invite", email="LUC@cafe.lu", role="owner")).status_code == 409

    other = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")  # Luc's browser
    async with other:
        assert (await _accept(other, link.group(1))).status_code == 303
        assert (await other.get("/vendor/users")).status_code == 403  # a manager
        luc_id = re.search(r'id="user-(\d+)">luc@cafe.lu<', (await client.get("/vendor/users")).text)
        assert luc_id is not None
        assert (await change(action="role", user_id=luc_id.group(1), role="owner")).status_code == 200
        assert (await other.get("/vendor/users")).status_code == 200  # an owner now
        assert (await change(action="remove", user_id=luc_id.group(1))).status_code == 200
        ended = await other.get("/vendor")
        assert ended.status_code == 303 and ended.headers["location"] == "/vendor/login"
    assert (await change(action="remove", user_id="999999")).status_code == 404


async def test_a_password_change_ends_the_other_sessions(
    app: FastAPI, client: httpx.AsyncClient, admin_key: str, tenant: Tenant
) -> None:
    await _accept(client, await _invite(client, admin_key, tenant, "owner@cafe.lu"))
    elsewhere = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")  # a forgotten tab
    async with elsewhere:
        assert (await _sign_in(elsewhere, "owner@cafe.lu")).status_code == 303
        page = await client.get("/vendor/password")
        form = {"csrf_token": _token(page.text), "current": "not it at all", "password": "a new and longer one",
                "password_again": "a new and longer one"}  # fmt: skip
        wrong = await client.post("/vendor/password", data=form, headers=FORM)
        assert wrong.status_code == 400 and "The current password is wrong." in wrong.text
        assert (await elsewhere.get("/vendor")).status_code == 200  # nothing changed yet
        changed = await client.post("/vendor/password", data={**form, "current": PASSWORD}, headers=FORM)
        assert changed.status_code == 200 and "your other sessions have ended" in changed.text
        assert (await client.get("/vendor")).status_code == 200  # this one stays
        assert (await elsewhere.get("/vendor")).status_code == 303  # the other is over
    client.cookies.clear()
    assert (await _sign_in(client, "owner@cafe.lu", PASSWORD)).status_code == 401
    assert (await _sign_in(client, "owner@cafe.lu", "a new and longer one")).status_code == 303


async def test_a_platform_admin_signs_in_at_admin_only(
    client: httpx.AsyncClient, database: Database, settings: Settings, clock: FixedClock, tenant: Tenant, admin_key: str
) -> None:
    async with database.unit_of_work() as session:
        invitation = await accounts.create_admin(Context(session, settings, clock), "root@platform.lu")
    assert invitation.path.startswith("/admin/invite/")
    accepted = await _accept(client, invitation.path)
    assert accepted.status_code == 303 and accepted.headers["location"] == "/admin"
    overview = await client.get("/admin")
    assert (
        overview.status_code == 200
        and tenant.slug in overview.text
        and "<h1>Platform administration</h1>" in overview.text
    )
    assert (await client.get("/vendor")).status_code == 303  # no shop of their own

    client.cookies.clear()
    assert (await _sign_in(client, "root@platform.lu")).status_code == 401  # not at a shop's sign-in
    page = await client.get("/admin/login")
    form = {"csrf_token": _token(page.text), "email": "root@platform.lu", "password": PASSWORD}
    signed = await client.post("/admin/login", data=form, headers=FORM)
    assert signed.status_code == 303 and signed.headers["location"] == "/admin"

    client.cookies.clear()
    await _accept(client, await _invite(client, admin_key, tenant, "owner@cafe.lu"))
    refused = await client.get("/admin")
    assert refused.status_code == 303 and refused.headers["location"] == "/admin/login"  # an owner is no admin
    page = await client.get("/admin/login")
    form = {"csrf_token": _token(page.text), "email": "owner@cafe.lu", "password": PASSWORD}
    assert (await client.post("/admin/login", data=form, headers=FORM)).status_code == 401


async def test_the_owner_downloads_the_ledger_as_csv(client: httpx.AsyncClient, admin_key: str, tenant: Tenant) -> None:
    stamped = await client.post(
        "/api/v1/vendor/loyalty/stamp",
        json={"card_id": tenant.card_id, "staff_pin": tenant.pin},
        headers=tenant.headers,
    )
    assert stamped.status_code == 201
    expected = await client.get("/api/v1/vendor/loyalty/transactions", headers={**tenant.headers, "accept": "text/csv"})
    await _accept(client, await _invite(client, admin_key, tenant, "owner@cafe.lu"))
    download = await client.get("/vendor/export.csv")
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    assert download.headers["cache-control"] == "no-store" and "attachment" in download.headers["content-disposition"]
    assert download.text == expected.text and download.text.count("\n") == 2  # the header and the one stamp
    client.cookies.clear()
    await _accept(client, await _invite(client, admin_key, tenant, "manager@cafe.lu", role="manager"))
    assert (await client.get("/vendor/export.csv")).status_code == 403
