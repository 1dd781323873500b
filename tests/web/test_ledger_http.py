"""The overview's anomalies and the dashboard's ledger over HTTP (PAGES.md, "Vendor dashboard"): each kind of
anomaly is one sentence linking to its entries, the ledger shows exactly the entries its filters ask for and
never another shop's, and a filter that is not what it says is a 400 page."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import httpx
import pytest

from loyalty.clock import FixedClock
from loyalty.models import TransactionType
from loyalty.services import pins, programs, terminals
from loyalty.services.voids import VoidRequest, void_transaction
from tests.services.helpers import Caller
from tests.services.test_anomalies import second_card, stamp, stamps_on, wrong_pin
from tests.tenants import Tenant
from tests.web.test_dashboard_http import _accept, _invite

pytestmark = pytest.mark.anyio

LEDGER = "/vendor/ledger"


async def signed_in(client: httpx.AsyncClient, admin_key: str, tenant: Tenant, role: str = "owner") -> None:
    """An owner (or manager) of `tenant` signed in, now: seed before, as a session ends after 30 idle minutes."""
    await _accept(client, await _invite(client, admin_key, tenant, f"{role}@cafe.lu", role))


def entry_ids(page: str) -> list[int]:
    """The ledger rows' entry ids, in the page's order."""
    return [int(found) for found in re.findall(r'<tr id="tx-(\d+)"', page)]


def ledger_links(page: str) -> list[str]:
    return [html.unescape(link) for link in re.findall(r'href="(/vendor/ledger\?[^"]+)"', page)]


def grouped(card_number: str) -> str:
    return " ".join(card_number[i : i + 4] for i in range(0, len(card_number), 4))


def text_of(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


async def test_no_anomaly_says_so(client: httpx.AsyncClient, admin_key: str, tenant: Tenant) -> None:
    await signed_in(client, admin_key, tenant)
    overview = await client.get("/vendor")
    assert overview.status_code == 200
    assert "No anomalies in the last 7 days." in overview.text and ledger_links(overview.text) == []


async def test_each_anomaly_is_a_sentence_linking_to_its_entries(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant, caller: Caller, clock: FixedClock
) -> None:
    start = clock.now()
    at_limit = []
    for day in (0, 2, 4):  # the daily limit (5) on 3 of the last 7 days
        clock.current = start + timedelta(days=day)
        at_limit += await stamps_on(caller, clock, tenant.card_id, 5)
    till = (await caller(terminals.create_terminal, terminals.TerminalCreate(name="Till"))).terminal
    door = (await caller(terminals.create_terminal, terminals.TerminalCreate(name="Door"))).terminal
    other_card = await second_card(caller)
    await caller(programs.update_program, programs.ProgramUpdate(cooldown_minutes=0))
    twice = [await stamp(caller.as_terminal(terminal_id=device.id), other_card) for device in (till, door)]
    await caller(programs.update_program, programs.ProgramUpdate(cooldown_minutes=15))
    await caller.with_program(pins.create_pin, pins.NewPin(name="Noah", pin="5678"))
    voids = [
        (await caller(void_transaction, entry_id, VoidRequest(reason="Wrong card", staff_pin="5678"))).id
        for entry_id in at_limit[:5]
    ]
    for _ in range(3):
        await wrong_pin(caller.as_terminal(terminal_id=till.id), tenant.card_id)
        await wrong_pin(caller, tenant.card_id)  # the API key's
    await signed_in(client, admin_key, tenant)

    overview = await client.get("/vendor")
    assert overview.status_code == 200
    said = text_of(overview.text)
    number = grouped(tenant.card_number)
    assert f"Card {number} reached its daily stamp limit (5) on 3 of the last 7 days." in said
    assert "was stamped at different terminals (Till, Door) less than its cooldown of 15 minutes apart." in said
    assert "Noah made 5 of the 5 corrections of the last 7 days (100%), but only 0% of the stamps and points." in said
    assert "Terminal Till: 3 wrong PINs since" in said and "API key counter: 3 wrong PINs since" in said
    assert "No anomalies" not in said

    links = ledger_links(overview.text)
    limit_link, terminals_link, voids_link, till_link = links[:4]
    assert entry_ids((await client.get(limit_link)).text) == sorted(at_limit, reverse=True)
    assert entry_ids((await client.get(terminals_link)).text) == [e.id for e in reversed(twice)]
    assert entry_ids((await client.get(voids_link)).text) == sorted(voids, reverse=True)
    assert till_link == f"{LEDGER}?terminal={till.id}&days=7"
    assert entry_ids((await client.get(till_link)).text) == [twice[0].id]
    voided = await client.get(f"{LEDGER}?entries={at_limit[0]},{voids[0]}")
    assert "Voided" in voided.text and f"Voids entry {at_limit[0]}" in voided.text
    assert f'href="/vendor/cards/{tenant.card_id}"' in voided.text and number in voided.text


async def test_the_filters_show_exactly_what_they_ask_for(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant, caller: Caller, clock: FixedClock
) -> None:
    noah = await caller.with_program(pins.create_pin, pins.NewPin(name="Noah", pin="5678"))
    till = (await caller(terminals.create_terminal, terminals.TerminalCreate(name="Till"))).terminal
    other_card = await second_card(caller)
    old = await stamp(caller, tenant.card_id)  # three days ago
    clock.advance(timedelta(days=3))
    by_noah = await stamp(caller, other_card, "5678")
    at_till = await stamp(caller.as_terminal(terminal_id=till.id), tenant.card_id)
    clock.advance(timedelta(minutes=20))
    await signed_in(client, admin_key, tenant)

    async def shown(query: str) -> list[int]:
        page = await client.get(f"{LEDGER}?{query}")
        assert page.status_code == 200, page.text
        return entry_ids(page.text)

    assert await shown("") == [at_till.id, by_noah.id, old.id]  # newest first
    assert await shown(f"card={tenant.card_id}") == [at_till.id, old.id]
    assert await shown(f"staff={noah.id}") == [by_noah.id]
    assert await shown(f"terminal={till.id}") == [at_till.id]
    assert await shown("days=1") == [at_till.id, by_noah.id]
    assert await shown("days=4") == [at_till.id, by_noah.id, old.id]
    assert await shown(f"type={TransactionType.STAMP_EARNED}&card={other_card}") == [by_noah.id]
    assert await shown(f"type={TransactionType.VOID}") == []
    assert await shown(f"entries={old.id},{at_till.id}&card=&staff=") == [at_till.id, old.id]
    assert await shown(f"entries={old.id}&card={other_card}") == []  # the filters all apply


async def test_another_shops_entries_are_never_shown(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant, other_tenant: Tenant, other_caller: Caller
) -> None:
    theirs = await stamp(other_caller, other_tenant.card_id, other_tenant.pin)
    till = (await other_caller(terminals.create_terminal, terminals.TerminalCreate(name="Their till"))).terminal
    await signed_in(client, admin_key, tenant)
    for query in (
        "",
        f"entries={theirs.id}",
        f"card={other_tenant.card_id}",
        f"staff={other_tenant.pin_id}",
        f"terminal={till.id}",
    ):
        page = await client.get(f"{LEDGER}?{query}")
        assert page.status_code == 200 and entry_ids(page.text) == [], query
        assert grouped(other_tenant.card_number) not in page.text and "Their till" not in page.text


@pytest.mark.parametrize(
    "query",
    [
        "card=abc",
        "card=0",
        "staff=-1",
        "terminal=1.5",
        "terminal=" + "9" * 30,
        "type=gift",
        "days=0",
        "days=367",
        "days=²",
        "entries=1,x",
        "entries=,,",
        "entries=" + ",".join(str(n) for n in range(1, 302)),
        "page=0",
        "page=999999999",
    ],
)
async def test_a_filter_that_is_not_what_it_says_is_a_400_page(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant, query: str
) -> None:
    await signed_in(client, admin_key, tenant)
    page = await client.get(f"{LEDGER}?{query}")
    assert page.status_code == 400
    assert 'role="alert"' in page.text and "<form" in page.text and entry_ids(page.text) == []


async def test_pages_of_the_ledger_keep_the_filter(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant, caller: Caller, clock: FixedClock
) -> None:
    await caller(programs.update_program, programs.ProgramUpdate(cooldown_minutes=0, max_daily_stamps=100))
    made = [(await stamp(caller, tenant.card_id)).id for _ in range(52)]
    await signed_in(client, admin_key, tenant)
    first = await client.get(f"{LEDGER}?card={tenant.card_id}&type=stamp_earned")
    assert entry_ids(first.text) == sorted(made, reverse=True)[:50] and "Page 1 of 2" in first.text
    [following] = [link for link in ledger_links(first.text) if "page=2" in link]
    assert f"card={tenant.card_id}" in following and "type=stamp_earned" in following
    second = await client.get(following)
    assert entry_ids(second.text) == sorted(made, reverse=True)[50:] and "Page 2 of 2" in second.text


async def test_managers_read_the_ledger_and_strangers_sign_in_first(
    client: httpx.AsyncClient, admin_key: str, tenant: Tenant
) -> None:
    assert (await client.get(LEDGER)).status_code == 303
    await signed_in(client, admin_key, tenant, role="manager")
    page = await client.get(LEDGER)
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert 'aria-current="page">Ledger' in page.text
