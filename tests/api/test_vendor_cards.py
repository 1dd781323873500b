"""Cards over HTTP: enrolment at the counter, search, look-up, history and (de)activation."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.services import points, programs
from loyalty.services.card_numbers import format_card_number
from loyalty.services.context import Actor, Context
from tests.api.helpers import assert_error, bearer
from tests.tenants import Tenant

pytestmark = pytest.mark.anyio

CARDS = "/api/v1/vendor/loyalty/cards"
CARD_FIELDS = {
    "id",
    "card_number",
    "qr_code",
    "program_id",
    "customer",
    "stamp_count",
    "stamps_target",
    "total_stamps_earned",
    "stamps_redeemed",
    "points_balance",
    "total_points_earned",
    "total_points_redeemed",
    "is_active",
    "enrolled_at",
    "last_stamp_at",
}
TRANSACTION_FIELDS = {
    "id",
    "card_id",
    "transaction_type",
    "stamps_delta",
    "points_delta",
    "stamps_balance_after",
    "points_balance_after",
    "purchase_amount_cents",
    "order_reference",
    "reward_id",
    "reward_description",
    "staff_pin_id",
    "staff_name",
    "voids_transaction_id",
    "notes",
    "transaction_at",
}


async def seed_points(
    database: Database,
    settings: Settings,
    clock: FixedClock,
    tenant: Tenant,
    *amounts_cents: int,
    card_id: int | None = None,
) -> None:
    """Ledger entries through the points service, one clock minute apart (so "newest first" is visible)."""
    for cents in amounts_cents:
        clock.advance(timedelta(minutes=1))
        async with database.unit_of_work() as session:
            ctx = Context(session, settings, clock, Actor(vendor_id=tenant.vendor_id, client_ip="10.0.0.1"))
            request = points.EarnRequest(
                card_id=card_id or tenant.card_id,
                purchase_amount_cents=cents,
                order_reference=f"order-{cents}",
                staff_pin=tenant.pin,
            )
            await points.earn_points(ctx, request)


async def _enrol(client: httpx.AsyncClient, tenant: Tenant, email: str, **fields: Any) -> httpx.Response:
    return await client.post(CARDS, json={"email": email, **fields}, headers=tenant.headers)


# --- auth ------------------------------------------------------------------------------------------


async def test_cards_need_a_vendor_key(client: httpx.AsyncClient, admin_key: str, tenant: Tenant) -> None:
    for method, url in (
        ("GET", CARDS),
        ("POST", CARDS),
        ("GET", f"{CARDS}/lookup?qr_code={tenant.qr_code}"),
        ("GET", f"{CARDS}/{tenant.card_id}"),
        ("GET", f"{CARDS}/{tenant.card_id}/transactions"),
        ("POST", f"{CARDS}/{tenant.card_id}/deactivate"),
    ):
        body = {"email": "a@example.com"} if method == "POST" else None
        anonymous = await client.request(method, url, json=body)
        assert anonymous.status_code == 401, url
        assert anonymous.json()["error_code"] == "UNAUTHENTICATED"
        admin = await client.request(method, url, json=body, headers=bearer(admin_key))
        assert admin.status_code == 403, url
        assert admin.json()["error_code"] == "FORBIDDEN"


# --- enrolment at the counter ----------------------------------------------------------------------


async def test_enrol_at_the_counter(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await _enrol(client, tenant, "New.Customer@Example.com", name="Nina", phone="+352 123", locale="fr")
    assert response.status_code == 201
    card = response.json()
    assert set(card) >= CARD_FIELDS
    assert card["program_id"] == tenant.program_id
    assert card["customer"]["email"] == "New.Customer@example.com"
    assert card["customer"]["name"] == "Nina"
    assert set(card["customer"]) >= {"id", "email", "name"}
    assert card["stamps_target"] == 3
    assert card["stamp_count"] == card["points_balance"] == card["total_points_earned"] == 0
    assert card["is_active"] is True and card["last_stamp_at"] is None
    assert card["enrolled_at"].startswith("2026-11-21T09:00:00")
    assert card["card_number"].isdigit() and len(card["card_number"]) == 16
    assert card["card_number_display"] == format_card_number(card["card_number"])
    assert len(card["card_token"]) >= 22  # the customer's own link, for the café to hand over
    fetched = await client.get(f"{CARDS}/{card['id']}", headers=tenant.headers)
    assert fetched.json() == card


@pytest.mark.parametrize("again", ["CUSTOMER@example.com", "  Customer@Example.COM  "])
async def test_enrolment_normalises_the_email(client: httpx.AsyncClient, tenant: Tenant, again: str) -> None:
    response = await _enrol(client, tenant, again)
    assert response.status_code == 409
    body = response.json()
    assert body["error_code"] == "LOYALTY_CARD_ALREADY_EXISTS"
    assert body["details"] == {"card_id": tenant.card_id, "card_number": tenant.card_number}  # to the vendor
    assert tenant.qr_code not in response.text


async def test_same_email_may_join_another_vendor(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    response = await _enrol(client, other_tenant, "customer@example.com")
    assert response.status_code == 201
    assert response.json()["program_id"] == other_tenant.program_id


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"email": "not-an-email"},
        {"email": "a@example.com", "locale": "xx"},
        {"email": "a@example.com", "name": "n" * 201},
    ],
)
async def test_enrolment_validates(client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any]) -> None:
    response = await client.post(CARDS, json=body, headers=tenant.headers)
    assert response.status_code == 422
    assert response.json()["error_code"] == "VALIDATION_ERROR"


async def test_enrolment_in_an_inactive_programme_is_refused(
    client: httpx.AsyncClient, tenant: Tenant, database: Database, settings: Settings, clock: FixedClock
) -> None:
    async with database.unit_of_work() as session:
        ctx = Context(session, settings, clock, Actor(vendor_id=tenant.vendor_id))
        await programs.set_program_active(ctx, await programs.get_program(ctx), False)
    response = await _enrol(client, tenant, "late@example.com")
    assert response.status_code == 400
    assert response.json()["error_code"] == "LOYALTY_PROGRAM_INACTIVE"
    # the cards already issued stay readable
    assert (await client.get(f"{CARDS}/{tenant.card_id}", headers=tenant.headers)).status_code == 200


async def test_enrolment_honours_idempotency_key(client: httpx.AsyncClient, tenant: Tenant) -> None:
    headers = {**tenant.headers, "Idempotency-Key": "enrol-42"}
    first = await client.post(CARDS, json={"email": "idem@example.com", "name": "I"}, headers=headers)
    second = await client.post(CARDS, json={"name": "I", "email": "idem@example.com"}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert (await client.get(CARDS, headers=tenant.headers)).json()["total"] == 2
    reused = await client.post(CARDS, json={"email": "other@example.com"}, headers=headers)
    assert reused.status_code == 409
    assert reused.json()["error_code"] == "IDEMPOTENCY_KEY_REUSED"


async def test_idempotency_keys_are_scoped_per_vendor(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    key = {"Idempotency-Key": "shared-key"}
    one = await client.post(CARDS, json={"email": "x@example.com"}, headers={**tenant.headers, **key})
    two = await client.post(CARDS, json={"email": "x@example.com"}, headers={**other_tenant.headers, **key})
    assert one.status_code == two.status_code == 201
    assert one.json()["id"] != two.json()["id"]


# --- list and search -------------------------------------------------------------------------------


async def test_list_and_search_cards(client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant) -> None:
    anna = (await _enrol(client, tenant, "anna@mail.lu", name="Anna Muller")).json()
    bert = (await _enrol(client, tenant, "bert@shop.lu", name="Bert Anders")).json()
    listed = (await client.get(CARDS, headers=tenant.headers)).json()
    assert listed["total"] == 3 and listed["limit"] == 50 and listed["offset"] == 0
    assert [c["id"] for c in listed["items"]] == [bert["id"], anna["id"], tenant.card_id]
    assert all(c["stamps_target"] == 3 for c in listed["items"])
    assert other_tenant.card_id not in [c["id"] for c in listed["items"]]

    async def search(term: str) -> list[int]:
        page = (await client.get(CARDS, params={"search": term}, headers=tenant.headers)).json()
        return [c["id"] for c in page["items"]]

    assert await search("ANNA@") == [anna["id"]]
    assert await search("mail.lu") == [anna["id"]]
    assert await search("anders") == [bert["id"]]
    assert await search("MULLER") == [anna["id"]]
    assert await search(format_card_number(bert["card_number"])) == [bert["id"]]
    assert await search(bert["card_number"][4:10]) == [bert["id"]]
    assert await search("other@example.com") == []  # the other vendor's customer
    assert await search("nobody") == []


async def test_search_wildcards_are_plain_characters(client: httpx.AsyncClient, tenant: Tenant) -> None:
    under = (await _enrol(client, tenant, "first_last@example.com", name="100% Fan")).json()
    for term, expected in (("%", [under["id"]]), ("_", [under["id"]]), ("100%", [under["id"]]), ("x_y", [])):
        page = (await client.get(CARDS, params={"search": term}, headers=tenant.headers)).json()
        assert [c["id"] for c in page["items"]] == expected, term
    # Digits beside other characters are not a card number: "100%" once found every card whose number
    # held "100" (CI, for a random number). Here the other card's own digits, with a "%" after them.
    beside = (await client.get(CARDS, params={"search": tenant.card_number[3:9] + "%"}, headers=tenant.headers)).json()
    assert beside["items"] == []


async def test_list_cards_pages(client: httpx.AsyncClient, tenant: Tenant) -> None:
    for i in range(4):
        await _enrol(client, tenant, f"p{i}@example.com")
    page = (await client.get(CARDS, params={"limit": 2, "offset": 3}, headers=tenant.headers)).json()
    assert page["total"] == 5 and page["limit"] == 2 and page["offset"] == 3 and len(page["items"]) == 2
    for bad in ({"limit": 0}, {"limit": 201}, {"offset": -1}):
        assert (await client.get(CARDS, params=bad, headers=tenant.headers)).status_code == 422


# --- look-up and get -------------------------------------------------------------------------------


async def test_lookup_by_qr_code_or_card_number(client: httpx.AsyncClient, tenant: Tenant) -> None:
    by_qr = await client.get(f"{CARDS}/lookup", params={"qr_code": tenant.qr_code}, headers=tenant.headers)
    assert by_qr.status_code == 200
    assert by_qr.json()["id"] == tenant.card_id
    typed = format_card_number(tenant.card_number)  # "4123 4567 ..." as staff type it
    by_number = await client.get(f"{CARDS}/lookup", params={"card_number": typed}, headers=tenant.headers)
    assert by_number.status_code == 200
    assert by_number.json() == by_qr.json()
    by_email = await client.get(f"{CARDS}/lookup", params={"email": " Customer@Example.COM "}, headers=tenant.headers)
    assert by_email.status_code == 200 and by_email.json() == by_qr.json()
    part = await client.get(f"{CARDS}/lookup", params={"email": "customer@example"}, headers=tenant.headers)
    assert part.status_code == 404  # the whole address or nothing: a counter cannot browse customers


@pytest.mark.parametrize("params", [{}, "both"])
async def test_lookup_needs_exactly_one_reference(
    client: httpx.AsyncClient, tenant: Tenant, params: dict[str, str] | str
) -> None:
    if params == "both":
        params = {"qr_code": tenant.qr_code, "card_number": tenant.card_number}
    response = await client.get(f"{CARDS}/lookup", params=params, headers=tenant.headers)
    assert response.status_code == 422
    body = response.json()
    assert body["error_code"] == "VALIDATION_ERROR"
    assert {e["field"] for e in body["details"]["errors"]} == {"qr_code", "card_number", "email"}


async def test_lookup_unknown_or_foreign_card_is_404(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    only_there = await client.post(CARDS, json={"email": "only-there@example.com"}, headers=other_tenant.headers)
    assert only_there.status_code == 201
    for params, identifier in (
        ({"email": "only-there@example.com"}, "only-there@example.com"),
        ({"qr_code": "nope"}, "nope"),
        ({"qr_code": other_tenant.qr_code}, other_tenant.qr_code),
        ({"card_number": other_tenant.card_number}, other_tenant.card_number),
    ):
        response = await client.get(f"{CARDS}/lookup", params=params, headers=tenant.headers)
        assert response.status_code == 404
        assert response.json()["error_code"] == "LOYALTY_CARD_NOT_FOUND"
        assert response.json()["details"]["identifier"] == identifier


async def test_get_card(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.get(f"{CARDS}/{tenant.card_id}", headers=tenant.headers)
    assert response.status_code == 200
    card = response.json()
    assert card["id"] == tenant.card_id
    assert card["card_number"] == tenant.card_number and card["qr_code"] == tenant.qr_code
    assert card["customer"]["email"] == "customer@example.com" and card["customer"]["name"] == "Customer"


async def test_a_vendor_cannot_read_another_vendors_card(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    for url in (f"{CARDS}/{other_tenant.card_id}", f"{CARDS}/{other_tenant.card_id}/transactions"):
        response = await client.get(url, headers=tenant.headers)
        assert response.status_code == 404
        assert response.json() == {
            "error_code": "LOYALTY_CARD_NOT_FOUND",
            "message": "Loyalty card not found",
            "details": {"identifier": other_tenant.card_id},
        }
    unknown = await client.get(f"{CARDS}/987654", headers=tenant.headers)
    assert unknown.status_code == 404 and unknown.json()["details"]["identifier"] == 987654


async def test_card_id_must_be_a_positive_integer(client: httpx.AsyncClient, tenant: Tenant) -> None:
    for bad in ("0", "-1", "abc", str(2**64)):
        assert (await client.get(f"{CARDS}/{bad}", headers=tenant.headers)).status_code == 422


async def test_card_not_found_message_is_localised(client: httpx.AsyncClient, tenant: Tenant) -> None:
    english = await client.get(f"{CARDS}/987654", headers=tenant.headers)
    french = await client.get(f"{CARDS}/987654", headers={**tenant.headers, "Accept-Language": "fr"})
    assert english.json()["error_code"] == french.json()["error_code"] == "LOYALTY_CARD_NOT_FOUND"
    assert english.json()["details"] == french.json()["details"]


# --- history ---------------------------------------------------------------------------------------


async def test_card_transactions_newest_first(
    client: httpx.AsyncClient, tenant: Tenant, database: Database, settings: Settings, clock: FixedClock
) -> None:
    await seed_points(database, settings, clock, tenant, 500, 1250, 300)
    response = await client.get(f"{CARDS}/{tenant.card_id}/transactions", headers=tenant.headers)
    assert response.status_code == 200
    page = response.json()
    assert page["total"] == 3 and page["limit"] == 50 and page["offset"] == 0
    items = page["items"]
    assert [t["purchase_amount_cents"] for t in items] == [300, 1250, 500]
    assert [t["points_balance_after"] for t in items] == [20, 17, 5]
    newest = items[0]
    assert set(newest) >= TRANSACTION_FIELDS
    assert newest["transaction_type"] == "points_earned"
    assert newest["card_id"] == tenant.card_id
    assert newest["points_delta"] == 3 and newest["stamps_delta"] == 0
    assert newest["order_reference"] == "order-300"
    assert newest["staff_pin_id"] == tenant.pin_id and newest["staff_name"] == "Staff"
    assert newest["transaction_at"].startswith("2026-11-21T09:03:00")
    assert "client_ip" not in newest and "10.0.0.1" not in response.text
    card = (await client.get(f"{CARDS}/{tenant.card_id}", headers=tenant.headers)).json()
    assert card["points_balance"] == card["total_points_earned"] == 20


async def test_card_transactions_pages(
    client: httpx.AsyncClient, tenant: Tenant, database: Database, settings: Settings, clock: FixedClock
) -> None:
    await seed_points(database, settings, clock, tenant, 100, 200, 300, 400)
    page = (
        await client.get(
            f"{CARDS}/{tenant.card_id}/transactions", params={"limit": 2, "offset": 1}, headers=tenant.headers
        )
    ).json()
    assert page["total"] == 4
    assert [t["purchase_amount_cents"] for t in page["items"]] == [300, 200]
    empty = (
        await client.get(f"{CARDS}/{tenant.card_id}/transactions", params={"offset": 10}, headers=tenant.headers)
    ).json()
    assert empty["items"] == [] and empty["total"] == 4


# --- deactivate / reactivate -----------------------------------------------------------------------


async def test_deactivate_and_reactivate(client: httpx.AsyncClient, tenant: Tenant) -> None:
    off = await client.post(f"{CARDS}/{tenant.card_id}/deactivate", headers=tenant.headers)
    assert off.status_code == 200
    assert off.json()["is_active"] is False and off.json()["id"] == tenant.card_id
    assert (await client.get(f"{CARDS}/{tenant.card_id}", headers=tenant.headers)).json()["is_active"] is False
    twice = await client.post(f"{CARDS}/{tenant.card_id}/deactivate", headers=tenant.headers)
    assert twice.status_code == 200 and twice.json()["is_active"] is False
    on = await client.post(f"{CARDS}/{tenant.card_id}/reactivate", headers=tenant.headers)
    assert on.status_code == 200 and on.json()["is_active"] is True


async def test_cannot_deactivate_another_vendors_card(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    for action in ("deactivate", "reactivate"):
        response = await client.post(f"{CARDS}/{other_tenant.card_id}/{action}", headers=tenant.headers)
        assert response.status_code == 404
        assert response.json()["error_code"] == "LOYALTY_CARD_NOT_FOUND"
    assert (await client.get(f"{CARDS}/{other_tenant.card_id}", headers=other_tenant.headers)).json()["is_active"]


async def test_text_with_a_nul_character_is_refused_not_a_server_error(
    client: httpx.AsyncClient, tenant: Tenant, database_url: str
) -> None:
    """Found by the schemathesis run: PostgreSQL cannot store NUL in text, and refused it with a 500."""
    before = (await client.get(CARDS, headers=tenant.headers)).json()["total"]
    response = await _enrol(client, tenant, "nul@example.com", phone="+352\u0000123")
    if database_url.startswith("sqlite"):
        assert response.status_code == 201  # SQLite stores the character as it is
        return
    details = assert_error(response, 422, "VALIDATION_ERROR")
    assert details["errors"][0]["message"].startswith("Text must not contain the NUL character")
    assert (await client.get(CARDS, headers=tenant.headers)).json()["total"] == before
    nul_in_query = await client.get(f"{CARDS}/lookup", params={"qr_code": "abc\u0000"}, headers=tenant.headers)
    assert_error(nul_in_query, 422, "VALIDATION_ERROR")


async def test_a_card_enrolled_at_the_counter_comes_with_the_customers_own_link(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    """A peer system's gap: the vendor API never returned `card_token`, so the café could not hand the
    customer the card page."""
    card = (await client.post(CARDS, json={"email": "new@example.com"}, headers=tenant.headers)).json()

    page = await client.get(f"/api/v1/loyalty/cards/{card['card_token']}")

    assert page.status_code == 200 and page.json()["card_number"] == card["card_number"]


async def test_a_second_enrolment_at_the_counter_names_the_existing_card_to_the_vendor_only(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    at_the_counter = await client.post(CARDS, json={"email": "CUSTOMER@example.com"}, headers=tenant.headers)
    on_the_web = await client.post(
        f"/api/v1/loyalty/programs/{tenant.slug}/enroll", json={"email": "customer@example.com"}
    )

    details = assert_error(at_the_counter, 409, "LOYALTY_CARD_ALREADY_EXISTS")
    assert details == {"card_id": tenant.card_id, "card_number": tenant.card_number}
    assert assert_error(on_the_web, 409, "LOYALTY_CARD_ALREADY_EXISTS") == {}  # nothing for the public
