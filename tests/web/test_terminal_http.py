"""Counter terminals over HTTP (PAGES.md, "Staff terminal", "Authentication", "Sessions"): the vendor API's
`/terminals`, pairing at `/terminal/pair`, the session cookie and its CSRF token, the counter's forms and
its JSON routes, the PIN lockout a terminal carries, revocation. The same journeys in a real browser:
tests/web/test_browser_terminal.py."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from loyalty.clock import FixedClock
from loyalty.db import Database
from loyalty.models import LoyaltyTransaction, WebSession
from loyalty.web.terminal import euros_to_cents
from tests.tenants import Tenant

pytestmark = pytest.mark.anyio

TERMINALS = "/api/v1/vendor/loyalty/terminals"
FORM = {"content-type": "application/x-www-form-urlencoded"}


async def _new_terminal(client: httpx.AsyncClient, tenant: Tenant, name: str = "Counter 1") -> dict[str, object]:
    created = await client.post(TERMINALS, json={"name": name}, headers=tenant.headers)
    assert created.status_code == 201, created.text
    return dict(created.json())


async def _typed(client: httpx.AsyncClient, code: object) -> dict[str, str]:
    """The pairing form as the page sends it: the code and the page's own form token (its cookie is kept)."""
    page = await client.get("/terminal/pair")
    return {"pairing_code": str(code), "csrf_token": _token(page.text)}


async def _pair(client: httpx.AsyncClient, tenant: Tenant) -> tuple[int, str]:
    """Pairs the client's cookie jar as a new terminal; returns its id and the page's CSRF token."""
    terminal = await _new_terminal(client, tenant)
    paired = await client.post("/terminal/pair", data=await _typed(client, terminal["pairing_code"]), headers=FORM)
    assert paired.status_code == 303 and paired.headers["location"] == "/terminal"
    page = await client.get("/terminal")
    assert page.status_code == 200
    return int(str(terminal["id"])), _csrf(page.text)


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', html)
    assert match is not None
    return match.group(1)


def _token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([\w-]+)"', html)
    assert match is not None
    return match.group(1)


async def test_a_terminal_is_made_with_a_one_time_pairing_code(
    client: httpx.AsyncClient, tenant: Tenant, clock: FixedClock
) -> None:
    terminal = await _new_terminal(client, tenant)
    assert re.fullmatch(r"[0-9]{8}", str(terminal["pairing_code"]))
    assert terminal["expires_at"] == (clock.now() + timedelta(minutes=10)).isoformat()
    listed = (await client.get(TERMINALS, headers=tenant.headers)).json()
    assert [item["name"] for item in listed["items"]] == ["Counter 1"]
    assert "pairing_code" not in listed["items"][0] and listed["items"][0]["pairing_expires_at"] is not None

    paired = await client.post("/terminal/pair", data=await _typed(client, terminal["pairing_code"]), headers=FORM)
    cookie = paired.headers["set-cookie"]
    assert cookie.startswith("loyalty_session=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Max-Age=7776000" in cookie  # 90 days
    client.cookies.clear()
    again = await client.post("/terminal/pair", data=await _typed(client, terminal["pairing_code"]), headers=FORM)
    assert again.status_code == 400 and "wrong or has expired" in again.text  # used once


async def test_a_pairing_code_expires_after_ten_minutes(
    client: httpx.AsyncClient, tenant: Tenant, clock: FixedClock
) -> None:
    terminal = await _new_terminal(client, tenant)
    clock.advance(timedelta(minutes=10))
    late = await client.post("/terminal/pair", data=await _typed(client, terminal["pairing_code"]), headers=FORM)
    assert late.status_code == 400 and "loyalty_session=" not in late.headers.get("set-cookie", "")


async def test_wrong_pairing_codes_are_limited_per_address(client: httpx.AsyncClient, tenant: Tenant) -> None:
    terminal = await _new_terminal(client, tenant)
    for _ in range(5):
        wrong = await client.post("/terminal/pair", data=await _typed(client, "00000000"), headers=FORM)
        assert wrong.status_code == 400
    refused = await client.post("/terminal/pair", data=await _typed(client, terminal["pairing_code"]), headers=FORM)
    assert refused.status_code == 429 and "loyalty_session=" not in refused.headers.get(
        "set-cookie", ""
    )  # even the right code, now


async def test_right_codes_do_not_use_up_the_allowance(
    client: httpx.AsyncClient, tenant: Tenant, database: Database
) -> None:
    for _ in range(7):  # a shop pairing its tablets one after another (here one browser, again and again)
        await _pair(client, tenant)
    async with database.sessionmaker() as session:
        live = list(await session.scalars(select(WebSession).where(WebSession.revoked_at.is_(None))))
    assert len(live) == 1  # each pairing ended the browser's previous session


async def test_an_unpaired_browser_is_sent_to_pairing(client: httpx.AsyncClient, tenant: Tenant) -> None:
    page = await client.get("/terminal")
    assert page.status_code == 303 and page.headers["location"] == "/terminal/pair"
    api = await client.post("/terminal/api/lookup", json={"card_number": tenant.card_number})
    assert api.status_code == 401 and api.json()["error_code"] == "TERMINAL_NOT_PAIRED"


async def test_the_counter_page_headers(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await _pair(client, tenant)
    page = await client.get("/terminal")
    assert "script-src 'self' 'wasm-unsafe-eval'" in page.headers["content-security-policy"]
    assert page.headers["permissions-policy"] == "camera=(self)"
    assert page.headers["cache-control"] == "no-store"
    pair = await client.get("/terminal/pair")
    assert pair.headers["permissions-policy"] == "camera=(self)"


async def test_find_and_stamp_through_the_forms(client: httpx.AsyncClient, tenant: Tenant, database: Database) -> None:
    terminal_id, csrf = await _pair(client, tenant)
    found = await client.post(
        "/terminal/find", data={"csrf_token": csrf, "card_number": tenant.card_number}, headers=FORM
    )
    assert found.status_code == 200 and "0 stamps out of 3" in found.text
    form = {"csrf_token": csrf, "card_id": str(tenant.card_id), "action": "stamp", "staff_pin": tenant.pin,
            "staff_pin_id": str(tenant.pin_id), "idempotency_key": "tap-1"}  # fmt: skip
    stamped = await client.post("/terminal/act", data=form, headers=FORM)
    assert stamped.status_code == 200 and "1 stamp out of 3" in stamped.text, re.findall(
        r'result-\w+"[^>]*>(.*?)</div>', stamped.text
    )
    repeated = await client.post("/terminal/act", data=form, headers=FORM)  # a double submit: the same key
    assert repeated.status_code == 200 and "1 stamp out of 3" in repeated.text
    async with database.sessionmaker() as session:
        entries = list(await session.scalars(select(LoyaltyTransaction)))
    assert [(e.terminal_id, e.staff_pin_id) for e in entries] == [(terminal_id, tenant.pin_id)]
    history = await client.get(f"/api/v1/vendor/loyalty/cards/{tenant.card_id}/transactions", headers=tenant.headers)
    [shown] = history.json()["items"]
    assert (shown["terminal_id"], shown["terminal_name"], shown["staff_name"]) == (terminal_id, "Counter 1", "Staff")

    cooled = await client.post("/terminal/act", data={**form, "idempotency_key": "tap-2"}, headers=FORM)
    assert cooled.status_code == 429 and "Please wait 15 minutes between stamps" in cooled.text
    assert "Next stamp from" in cooled.text


async def test_a_form_without_its_csrf_token_is_refused(
    client: httpx.AsyncClient, tenant: Tenant, database: Database
) -> None:
    _, csrf = await _pair(client, tenant)
    form = {"card_id": str(tenant.card_id), "action": "stamp", "staff_pin": tenant.pin}
    missing = await client.post("/terminal/act", data=form, headers=FORM)
    assert missing.status_code == 403 and "This form has expired" in missing.text
    forged = await client.post("/terminal/act", data={**form, "csrf_token": "0" * 64}, headers=FORM)
    assert forged.status_code == 403
    elsewhere = await client.post(
        "/terminal/act", data={**form, "csrf_token": csrf}, headers={**FORM, "origin": "https://evil.example"}
    )
    assert elsewhere.status_code == 403
    async with database.sessionmaker() as session:
        assert list(await session.scalars(select(LoyaltyTransaction))) == []


async def test_wrong_pins_lock_the_terminal_until_the_vendor_unlocks_it(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    terminal_id, csrf = await _pair(client, tenant)
    headers = {"x-csrf-token": csrf}
    for left in (4, 3, 2, 1, 0):  # no staff_pin_id: the failures count against the terminal
        wrong = await client.post(
            "/terminal/api/stamp", json={"card_id": tenant.card_id, "staff_pin": "9999"}, headers=headers
        )
        assert wrong.status_code == 403 and wrong.json()["details"]["remaining_attempts"] == left
    locked = await client.post(
        "/terminal/api/stamp", json={"card_id": tenant.card_id, "staff_pin": tenant.pin}, headers=headers
    )
    assert locked.status_code == 423 and locked.json()["details"]["lock"] == "terminal"
    shown = (await client.get(f"{TERMINALS}/{terminal_id}", headers=tenant.headers)).json()
    assert shown["is_locked"] and shown["failed_pin_attempts"] == 5
    [lock] = (await client.get("/api/v1/vendor/loyalty/pins/locks", headers=tenant.headers)).json()
    assert (lock["terminal"], lock["terminal_id"], lock["terminal_name"]) == (
        f"terminal:{terminal_id}",
        terminal_id,
        "Counter 1",
    )

    unlocked = await client.post(f"{TERMINALS}/{terminal_id}/unlock", headers=tenant.headers)
    assert unlocked.status_code == 200 and not unlocked.json()["is_locked"]
    stamped = await client.post(
        "/terminal/api/stamp", json={"card_id": tenant.card_id, "staff_pin": tenant.pin}, headers=headers
    )
    assert stamped.status_code == 201 and stamped.json()["stamp_count"] == 1


async def test_the_json_routes_answer_as_the_vendor_api(client: httpx.AsyncClient, tenant: Tenant) -> None:
    _, csrf = await _pair(client, tenant)
    headers = {"x-csrf-token": csrf}
    by_email = await client.post("/terminal/api/lookup", json={"email": "CUSTOMER@example.com"}, headers=headers)
    assert by_email.status_code == 200 and by_email.json()["id"] == tenant.card_id
    unknown = await client.post("/terminal/api/lookup", json={"email": "custom@example.com"}, headers=headers)
    assert unknown.status_code == 404 and unknown.json()["error_code"] == "LOYALTY_CARD_NOT_FOUND"
    both = await client.post("/terminal/api/lookup", json={"email": "a@b.lu", "qr_code": "x"}, headers=headers)
    assert both.status_code == 422
    body = {"card_id": tenant.card_id, "staff_pin": tenant.pin, "purchase_amount_cents": 450}
    first = await client.post("/terminal/api/points/earn", json=body, headers={**headers, "idempotency-key": "k1"})
    again = await client.post("/terminal/api/points/earn", json=body, headers={**headers, "idempotency-key": "k1"})
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    no_token = await client.post("/terminal/api/points/earn", json=body)
    assert no_token.status_code == 403 and no_token.json()["error_code"] == "CSRF_TOKEN_INVALID"


async def test_revoking_a_terminal_ends_its_session_at_once(
    client: httpx.AsyncClient, tenant: Tenant, database: Database
) -> None:
    terminal_id, csrf = await _pair(client, tenant)
    assert (await client.delete(f"{TERMINALS}/{terminal_id}", headers=tenant.headers)).status_code == 204
    page = await client.get("/terminal")
    assert page.status_code == 303 and page.headers["location"] == "/terminal/pair"
    api = await client.post("/terminal/api/lookup", json={"qr_code": tenant.qr_code}, headers={"x-csrf-token": csrf})
    assert api.status_code == 401
    async with database.sessionmaker() as session:
        assert all(s.revoked_at is not None for s in await session.scalars(select(WebSession)))
    assert (await client.post(f"{TERMINALS}/{terminal_id}/pairing-code", headers=tenant.headers)).status_code == 404


async def test_a_counter_key_cannot_manage_terminals(client: httpx.AsyncClient, tenant: Tenant, admin_key: str) -> None:
    created = await client.post(
        f"/api/v1/admin/loyalty/vendors/{tenant.vendor_id}/api-keys",
        json={"name": "till", "scope": "counter"},
        headers={"authorization": f"Bearer {admin_key}"},
    )
    counter = {"authorization": f"Bearer {created.json()['key']}"}
    refused = await client.post(TERMINALS, json={"name": "x"}, headers=counter)
    assert refused.status_code == 403


async def test_a_vendor_sees_only_its_own_terminals(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    terminal = await _new_terminal(client, tenant)
    other = await client.get(f"{TERMINALS}/{terminal['id']}", headers=other_tenant.headers)
    assert other.status_code == 404 and other.json()["error_code"] == "TERMINAL_NOT_FOUND"
    assert (await client.delete(f"{TERMINALS}/{terminal['id']}", headers=other_tenant.headers)).status_code == 404


@pytest.mark.parametrize(
    ("typed", "locale", "cents"),
    [("4,50", "fr", 450), ("4,50", "de", 450), ("4,50", "lb", 450), ("4.50", "en", 450), ("4.5", "de", 450),
     ("12", "fr", 1200), ("1.234,50", "de", 123450), ("1 234,50", "fr", 123450), ("4,50 €", "fr", 450)],
)  # fmt: skip
def test_amounts_in_euros_as_counters_type_them(typed: str, locale: str, cents: int) -> None:
    assert euros_to_cents(typed, locale) == cents


@pytest.mark.parametrize("typed", ["", "abc", "4,505", "-3", "0", "4,,5"])
def test_what_is_not_an_amount(typed: str) -> None:
    with pytest.raises(ValueError):
        euros_to_cents(typed, "fr")


async def test_the_pairing_form_only_pairs_from_our_own_page(client: httpx.AsyncClient, tenant: Tenant) -> None:
    """Another site cannot pair a shop's tablet with a code of its own (login CSRF): without this browser's
    form token, or from another origin, the form is refused and pairs nothing."""
    terminal = await _new_terminal(client, tenant)
    blind = await client.post("/terminal/pair", data={"pairing_code": terminal["pairing_code"]}, headers=FORM)
    assert blind.status_code == 403 and "loyalty_session=" not in blind.headers.get("set-cookie", "")
    typed = await _typed(client, terminal["pairing_code"])
    elsewhere = await client.post("/terminal/pair", data=typed, headers={**FORM, "origin": "https://evil.example"})
    assert elsewhere.status_code == 403
    ours = await client.post("/terminal/pair", data=typed, headers={**FORM, "origin": "http://test"})
    assert ours.status_code == 303  # the code was not used up by the refused attempts


async def test_the_session_cookie_slides_with_each_use(
    client: httpx.AsyncClient, tenant: Tenant, clock: FixedClock
) -> None:
    await _pair(client, tenant)
    clock.advance(timedelta(days=80))
    page = await client.get("/terminal")
    assert page.status_code == 200 and "Max-Age=7776000" in page.headers["set-cookie"]  # 90 days from now
    clock.advance(timedelta(days=80))
    assert (await client.get("/terminal")).status_code == 200  # 160 days after pairing, used every 80
    clock.advance(timedelta(days=91))
    ended = await client.get("/terminal")
    assert ended.status_code == 303 and ended.headers["location"] == "/terminal/pair"


async def test_a_counter_app_on_the_json_routes_keeps_its_cookie_too(
    client: httpx.AsyncClient, tenant: Tenant, clock: FixedClock
) -> None:
    _, csrf = await _pair(client, tenant)
    headers = {"x-csrf-token": csrf}
    clock.advance(timedelta(days=80))
    found = await client.post("/terminal/api/lookup", json={"card_number": tenant.card_number}, headers=headers)
    stamped = await client.post(
        "/terminal/api/stamp", json={"card_id": tenant.card_id, "staff_pin": tenant.pin}, headers=headers
    )
    for answer in (found, stamped):  # 90 days from this use, not from the pairing 80 days ago
        assert answer.is_success and "Max-Age=7776000" in answer.headers["set-cookie"], answer.text


async def test_a_refused_action_keeps_what_staff_chose_but_the_pin(client: httpx.AsyncClient, tenant: Tenant) -> None:
    _, csrf = await _pair(client, tenant)
    form = {"csrf_token": csrf, "card_id": str(tenant.card_id), "action": "earn", "amount": "4,50",
            "staff_pin_id": str(tenant.pin_id), "staff_pin": "9999"}  # fmt: skip
    refused = await client.post("/terminal/act", data=form, headers=FORM)
    assert refused.status_code == 403 and "1 attempts left" not in refused.text
    assert re.search(r'value="earn" checked', refused.text) and 'value="4,50"' in refused.text
    assert re.search(rf'value="{tenant.pin_id}" selected', refused.text) and "9999" not in refused.text


@pytest.mark.parametrize("typed", ["Infinity", "1e999999", "sNaN", "1E3", "4.505", "999999999"])
async def test_amounts_that_are_none_are_said_so(client: httpx.AsyncClient, tenant: Tenant, typed: str) -> None:
    _, csrf = await _pair(client, tenant)
    form = {"csrf_token": csrf, "card_id": str(tenant.card_id), "action": "earn", "amount": typed,
            "staff_pin": tenant.pin}  # fmt: skip
    refused = await client.post(
        "/terminal/act", data=form, headers={**FORM, "accept-language": "de"}, params={"lang": "en"}
    )
    assert refused.status_code == 400 and "Type the amount in euros, for example 4,50" in refused.text
