"""The dashboard's cards over HTTP (PAGES.md, "Vendor dashboard" → Cards): search by number, e-mail or name;
a card's page with its balances, customer, ledger and wallet passes; deactivate and reactivate; void a ledger
entry with a staff PIN under the API's rules (wrong PINs counted, then the lock); another shop's card, an
unknown or a malformed id answer 404; a forged form changes nothing."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from loyalty.clock import FixedClock
from loyalty.db import Database
from loyalty.models import LoyaltyCard, LoyaltyTransaction, StaffPin
from loyalty.services.card_numbers import format_card_number
from tests.tenants import Tenant
from tests.web.test_dashboard_http import FORM, _accept, _invite, _token

pytestmark = pytest.mark.anyio

API = "/api/v1/vendor/loyalty"


async def _stamp(client: httpx.AsyncClient, tenant: Tenant, clock: FixedClock) -> int:
    """One stamp through the API (past the cooldown first); the new entry's id."""
    clock.advance(timedelta(minutes=16))
    answer = await client.post(
        f"{API}/stamp", json={"card_id": tenant.card_id, "staff_pin": tenant.pin}, headers=tenant.headers
    )
    assert answer.status_code == 201, answer.text
    return int(answer.json()["transaction_id"])


async def _card(client: httpx.AsyncClient, tenant: Tenant, card_id: int | None = None) -> dict[str, object]:
    answer = await client.get(f"{API}/cards/{card_id or tenant.card_id}", headers=tenant.headers)
    assert answer.status_code == 200, answer.text
    card: dict[str, object] = answer.json()
    return card


async def _enrol(client: httpx.AsyncClient, tenant: Tenant, email: str, name: str) -> dict[str, object]:
    answer = await client.post(f"{API}/cards", json={"email": email, "name": name}, headers=tenant.headers)
    assert answer.status_code == 201, answer.text
    card: dict[str, object] = answer.json()
    return card


def _result_ids(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'<a class="card-no" href="/vendor/cards/(\d+)">', html)]


async def test_cards_are_found_by_number_e_mail_or_name(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant, other_tenant: Tenant
) -> None:
    zoe = await _enrol(client, tenant, "Zoe.Kremer@mail.lu", "Zoé Kremer")
    await _accept(client, await _invite(client, admin_key, tenant, "manager@cafe.lu", role="manager"))
    number = tenant.card_number

    everyone = await client.get("/vendor/cards")
    assert everyone.status_code == 200 and everyone.headers["cache-control"] == "no-store"
    assert _result_ids(everyone.text) == [zoe["id"], tenant.card_id]  # the newest first; not the other shop's
    assert 'href="/vendor/cards" aria-current="page"' in everyone.text
    for typed in (format_card_number(number), number, f" {number[:4]}-{number[4:8]} ", number[5:11]):
        found = await client.get("/vendor/cards", params={"q": typed})
        assert found.status_code == 200 and _result_ids(found.text) == [tenant.card_id], typed
        assert format_card_number(number) in found.text
    for typed in ("ZOE.kremer", "kremer@mail", "Zoé", "krem"):
        found = await client.get("/vendor/cards", params={"q": typed})
        assert _result_ids(found.text) == [zoe["id"]], typed
    nobody = await client.get("/vendor/cards", params={"q": "other@example.com"})  # the other shop's customer
    assert nobody.status_code == 200 and _result_ids(nobody.text) == [] and "No card matches" in nobody.text

    typo = number[:-1] + str((int(number[-1]) + 1) % 10)  # the check digit no longer matches
    refused = await client.get("/vendor/cards", params={"q": format_card_number(typo)})
    assert refused.status_code == 400 and "check digit does not match" in refused.text
    assert (await client.get("/vendor/cards", params={"q": "x" * 201})).status_code == 400
    for page in ("abc", "0", "-3", "²", "9" * 40):
        assert (await client.get("/vendor/cards", params={"page": page, "q": "%_\x00"})).status_code == 200, page


async def test_the_search_pages_through_many_cards(client: httpx.AsyncClient, admin_key: str, tenant: Tenant) -> None:
    for n in range(25):  # with the tenant's: 26 cards, 25 a page
        await _enrol(client, tenant, f"guest{n}@cafe.lu", f"Guest{n}")
    await _accept(client, await _invite(client, admin_key, tenant, "owner@cafe.lu"))
    first = await client.get("/vendor/cards")
    assert len(_result_ids(first.text)) == 25 and "26 cards, the newest first" in first.text
    assert 'rel="prev"' not in first.text
    following = re.search(r'<a href="([^"]+)" rel="next">', first.text)
    assert following is not None and following.group(1) == "/vendor/cards?page=2"
    second = await client.get(following.group(1))
    assert _result_ids(second.text) == [tenant.card_id] and 'rel="next"' not in second.text
    assert 'href="/vendor/cards?page=1" rel="prev"' in second.text
    searched = await client.get("/vendor/cards", params={"q": "guest", "page": "2"})
    assert "page=1&amp;q=guest" in searched.text or "q=guest&amp;page=1" in searched.text  # the search is kept


async def test_a_cards_page_shows_balances_customer_ledger_and_wallets(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant, clock: FixedClock
) -> None:
    stamp = await _stamp(client, tenant, clock)
    await _accept(client, await _invite(client, admin_key, tenant, "manager@cafe.lu", role="manager"))
    page = await client.get(f"/vendor/cards/{tenant.card_id}")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    html = page.text
    assert f"<h1>Card {format_card_number(tenant.card_number)}</h1>" in html
    assert 'id="stamp-balance">1 of 3 stamps towards the reward<' in html and 'id="points-balance">0<' in html
    assert "customer@example.com" in html and 'id="card-state">Active<' in html
    row = re.search(rf'<tr id="tx-{stamp}">(.*?)</tr>', html, re.S)
    assert row is not None and "Stamp earned" in row.group(1) and "<td>Staff</td>" in row.group(1)
    assert "+1 (1)" in row.group(1) and "Flagged" not in row.group(1)
    assert "0 devices receive the card&#39;s updates" in html and "Not saved to Google Wallet" in html
    assert 'href="/vendor/cards" aria-current="page"' in html

    flagged = await client.get(f"/vendor/cards/{tenant.card_id}", params={"entries": f"{stamp},abc,,-1,{'9' * 30}"})
    row = re.search(rf'<tr id="tx-{stamp}" class="flagged">(.*?)</tr>', flagged.text, re.S)
    assert flagged.status_code == 200 and row is not None and "Flagged" in row.group(1)


async def test_the_ledger_opens_on_the_page_of_a_flagged_entry(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant, clock: FixedClock
) -> None:
    oldest = await _stamp(client, tenant, clock)
    async with httpx.AsyncClient(transport=client._transport, base_url="http://test") as api:
        for _ in range(100):  # points, no cooldown: 101 entries, two pages of the ledger
            earned = await api.post(
                f"{API}/points/earn",
                json={"card_id": tenant.card_id, "purchase_amount_cents": 100, "staff_pin": tenant.pin},
                headers=tenant.headers,
            )
            assert earned.status_code == 201, earned.text
    await _accept(client, await _invite(client, admin_key, tenant, "owner@cafe.lu"))
    first = await client.get(f"/vendor/cards/{tenant.card_id}")
    assert f'id="tx-{oldest}"' not in first.text and "Page 1 of 2" in first.text
    older = re.search(r'<a href="([^"]+)" rel="next">Older entries</a>', first.text)
    assert older is not None and f'id="tx-{oldest}"' in (await client.get(older.group(1))).text
    flagged = await client.get(f"/vendor/cards/{tenant.card_id}", params={"entries": str(oldest)})
    assert f'<tr id="tx-{oldest}" class="flagged">' in flagged.text and "Page 2 of 2" in flagged.text


async def test_a_card_is_deactivated_and_reactivated(client: httpx.AsyncClient, admin_key: str, tenant: Tenant) -> None:
    await _accept(client, await _invite(client, admin_key, tenant, "manager@cafe.lu", role="manager"))
    page = await client.get(f"/vendor/cards/{tenant.card_id}")
    csrf = _token(page.text)
    path = f"/vendor/cards/{tenant.card_id}"

    forged = await client.post(path, data={"action": "deactivate"}, headers=FORM)
    assert forged.status_code == 403 and (await _card(client, tenant))["is_active"] is True
    wrong = await client.post(path, data={"action": "deactivate", "csrf_token": "é" + csrf[1:]}, headers=FORM)
    assert wrong.status_code == 403 and (await _card(client, tenant))["is_active"] is True

    off = await client.post(path, data={"action": "deactivate", "csrf_token": csrf}, headers=FORM)
    assert off.status_code == 200 and 'id="card-state"><strong>Deactivated<' in off.text
    assert (await _card(client, tenant))["is_active"] is False
    assert "Reactivate the card to void one of its entries." in off.text
    stamp = await client.post(
        f"{API}/stamp", json={"card_id": tenant.card_id, "staff_pin": tenant.pin}, headers=tenant.headers
    )
    assert stamp.status_code == 400  # the API's rule holds for the page's switch
    on = await client.post(path, data={"action": "reactivate", "csrf_token": csrf}, headers=FORM)
    assert on.status_code == 200 and "Reactivated." in on.text and (await _card(client, tenant))["is_active"] is True
    assert (await client.post(path, data={"action": "erase", "csrf_token": csrf}, headers=FORM)).status_code == 400


async def test_a_stamp_is_voided_with_the_staff_pin(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant, clock: FixedClock, database: Database
) -> None:
    first, second = await _stamp(client, tenant, clock), await _stamp(client, tenant, clock)
    await _accept(client, await _invite(client, admin_key, tenant, "owner@cafe.lu"))
    page = await client.get(f"/vendor/cards/{tenant.card_id}")
    assert f'<option value="{second}">' in page.text and 'id="stamp-balance">2 of 3' in page.text
    form = {"csrf_token": _token(page.text), "action": "void", "transaction_id": str(second),
            "reason": "Stamped twice", "staff_pin": tenant.pin, "staff_pin_id": str(tenant.pin_id)}  # fmt: skip
    path = f"/vendor/cards/{tenant.card_id}"

    voided = await client.post(path, data=form, headers=FORM)
    assert voided.status_code == 200 and "Voided: the correction is in the ledger" in voided.text
    assert 'id="stamp-balance">1 of 3' in voided.text and (await _card(client, tenant))["stamp_count"] == 1
    async with database.unit_of_work() as session:
        void = await session.scalar(select(LoyaltyTransaction).where(LoyaltyTransaction.voids_transaction_id == second))
    assert void is not None and void.notes == "Stamped twice" and void.staff_pin_id == tenant.pin_id
    assert void.stamps_delta == -1 and void.card_id == tenant.card_id and void.client_ip is not None
    row = re.search(rf'<tr id="tx-{second}" class="voided">(.*?)</tr>', voided.text, re.S)
    assert row is not None and "Voided" in row.group(1) and f'href="#tx-{void.id}"' in row.group(1)
    assert f"Voids entry {second}" in voided.text and f'<option value="{second}">' not in voided.text

    again = await client.post(path, data=form, headers=FORM)
    assert again.status_code == 400 and "It was voided already." in again.text
    assert (await _card(client, tenant))["stamp_count"] == 1
    correction = await client.post(path, data={**form, "transaction_id": str(void.id)}, headers=FORM)
    assert correction.status_code == 400 and "A correction cannot be voided itself." in correction.text
    assert f'<option value="{first}" selected>' in correction.text  # the choice stays: the first entry, not the PIN
    assert tenant.pin not in correction.text.replace(f'value="{tenant.pin_id}"', "")


async def test_wrong_pins_are_counted_then_lock_as_through_the_api(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant, clock: FixedClock, database: Database
) -> None:
    stamp = await _stamp(client, tenant, clock)
    await _accept(client, await _invite(client, admin_key, tenant, "owner@cafe.lu"))
    page = await client.get(f"/vendor/cards/{tenant.card_id}")
    form = {"csrf_token": _token(page.text), "action": "void", "transaction_id": str(stamp), "reason": "Test",
            "staff_pin_id": str(tenant.pin_id)}  # fmt: skip
    path = f"/vendor/cards/{tenant.card_id}"

    async def failed_attempts() -> int:
        async with database.unit_of_work() as session:
            return int(await session.scalar(select(StaffPin.failed_attempts).where(StaffPin.id == tenant.pin_id)) or 0)

    shape = await client.post(path, data={**form, "staff_pin": "12"}, headers=FORM)
    assert shape.status_code == 400 and "Type the PIN: 4 to 8 digits" in shape.text and await failed_attempts() == 0
    for left in (4, 3, 2, 1):
        wrong = await client.post(path, data={**form, "staff_pin": "0000"}, headers=FORM)
        assert wrong.status_code == 403 and "Wrong staff PIN" in wrong.text
        assert (
            f"{left} attempt{'s' if left > 1 else ''} left" in wrong.text
            and 'aria-describedby="card-problem"' in wrong.text
        )
        assert await failed_attempts() == 5 - left
    fifth = await client.post(path, data={**form, "staff_pin": "0000"}, headers=FORM)
    assert fifth.status_code == 403 and "0 attempts left" in fifth.text
    locked = await client.post(path, data={**form, "staff_pin": tenant.pin}, headers=FORM)
    assert locked.status_code == 423 and "Too many wrong PINs" in locked.text and "Locked until" in locked.text
    assert (await _card(client, tenant))["stamp_count"] == 1  # nothing was voided
    through_the_api = await client.post(
        f"{API}/transactions/{stamp}/void",
        json={"reason": "Test", "staff_pin": tenant.pin, "staff_pin_id": tenant.pin_id},
        headers=tenant.headers,
    )
    assert through_the_api.status_code == 423  # the same lock


async def test_forms_that_cannot_void_are_refused_without_a_500(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant, other_tenant: Tenant, clock: FixedClock
) -> None:
    stamp = await _stamp(client, tenant, clock)
    neighbour = await _enrol(client, tenant, "neighbour@cafe.lu", "Ben")
    theirs = await client.post(
        f"{API}/stamp",
        json={"card_id": other_tenant.card_id, "staff_pin": other_tenant.pin},
        headers=other_tenant.headers,
    )
    await _accept(client, await _invite(client, admin_key, tenant, "owner@cafe.lu"))
    page = await client.get(f"/vendor/cards/{tenant.card_id}")
    base = {"csrf_token": _token(page.text), "action": "void", "reason": "Test", "staff_pin": tenant.pin}
    path = f"/vendor/cards/{tenant.card_id}"
    for transaction_id in ("", "abc", "²", "9" * 40, "0"):
        answer = await client.post(path, data={**base, "transaction_id": transaction_id}, headers=FORM)
        assert answer.status_code == 400 and "Choose the entry to void." in answer.text, transaction_id
    for reason in ("", "   ", "x" * 1001):
        answer = await client.post(path, data={**base, "transaction_id": str(stamp), "reason": reason}, headers=FORM)
        assert answer.status_code == 400 and "Say why the entry is voided" in answer.text
    other_shop = await client.post(
        path, data={**base, "transaction_id": str(theirs.json()["transaction_id"])}, headers=FORM
    )
    assert other_shop.status_code == 404
    # An entry of this shop's other card, sent from this card's page: refused, and nothing voided.
    on_the_neighbour = await client.post(
        f"/vendor/cards/{neighbour['id']}", data={**base, "transaction_id": str(stamp)}, headers=FORM
    )
    assert on_the_neighbour.status_code == 404 and (await _card(client, tenant))["stamp_count"] == 1
    strange = await client.post(path, data={**base, "transaction_id": str(stamp), "staff_pin_id": "²"}, headers=FORM)
    assert strange.status_code == 200  # no name chosen: the PIN alone approves, as in the API
    assert (await _card(client, tenant))["stamp_count"] == 0


async def test_another_shops_card_or_a_wrong_id_is_not_found(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant, other_tenant: Tenant, database: Database
) -> None:
    await _accept(client, await _invite(client, admin_key, tenant, "owner@cafe.lu"))
    csrf = _token((await client.get("/vendor/cards")).text)
    for card_id in (str(other_tenant.card_id), "999999", "abc", "0", "-1", "²", "9" * 40, "1.5"):
        shown = await client.get(f"/vendor/cards/{card_id}")
        assert shown.status_code == 404 and "<h1>Card not found</h1>" in shown.text, card_id
        assert "text/html" in shown.headers["content-type"] and other_tenant.card_number not in shown.text
        posted = await client.post(
            f"/vendor/cards/{card_id}", data={"csrf_token": csrf, "action": "deactivate"}, headers=FORM
        )
        assert posted.status_code == 404, card_id
    async with database.unit_of_work() as session:
        assert await session.scalar(select(LoyaltyCard.is_active).where(LoyaltyCard.id == other_tenant.card_id))
    client.cookies.clear()
    signed_out = await client.get(f"/vendor/cards/{tenant.card_id}")
    assert signed_out.status_code == 303 and signed_out.headers["location"] == "/vendor/login"
