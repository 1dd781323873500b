"""API fixtures: the app on the test database, an httpx client, and tenants seeded through the
services (so a router's tests do not depend on another router being written)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from loyalty.app import create_app
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.services import api_keys, cards, pins, programs, vendors
from loyalty.services.context import Actor, Context


@pytest.fixture
def app(settings: Settings, clock: FixedClock, database: Database) -> FastAPI:
    return create_app(settings, clock=clock, database=database)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The answer is the contract's error `code` with `status`; returns its details."""
    assert response.status_code == status, response.text
    assert response.json()["error_code"] == code
    return response.json()["details"]  # type: ignore[no-any-return]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass
class Tenant:
    """A vendor with its key, programme, one staff PIN and one enrolled card."""

    vendor_id: int
    slug: str
    key: str
    program_id: int
    pin: str
    pin_id: int
    card_id: int
    card_number: str
    qr_code: str
    card_token: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.key)


@pytest.fixture
async def admin_key(database: Database, settings: Settings, clock: FixedClock) -> str:
    async with database.unit_of_work() as session:
        issued = await api_keys.create_admin_key(Context(session, settings, clock), "test admin")
        return issued.secret


async def make_tenant(
    database: Database,
    settings: Settings,
    clock: FixedClock,
    *,
    slug: str,
    pin: str = "1234",
    email: str = "customer@example.com",
    **program_fields: Any,
) -> Tenant:
    """Seeds a vendor through the services; `program_fields` override ProgramFields defaults."""
    fields: dict[str, Any] = {"program_type": "hybrid", "name": f"{slug} card", "stamps_target": 3}
    fields.update(program_fields)
    async with database.unit_of_work() as session:
        ctx = Context(session, settings, clock)
        vendor = await vendors.create_vendor(ctx, vendors.VendorFields(name=slug.title(), slug=slug))
        issued = await api_keys.create_vendor_key(ctx, vendor.id, "counter")
        vctx = Context(session, settings, clock, Actor(vendor_id=vendor.id, api_key_id=issued.record.id))
        program = await programs.create_program(vctx, programs.ProgramFields(**fields))
        staff_pin = await pins.create_pin(vctx, program, pins.NewPin(name="Staff", pin=pin))
        view = await cards.enrol(vctx, program, cards.Enrolment(email=email, name="Customer"))
        return Tenant(
            vendor_id=vendor.id,
            slug=slug,
            key=issued.secret,
            program_id=program.id,
            pin=pin,
            pin_id=staff_pin.id,
            card_id=view.card.id,
            card_number=view.card.card_number,
            qr_code=view.card.qr_code,
            card_token=view.card.card_token,
        )


@pytest.fixture
async def tenant(database: Database, settings: Settings, clock: FixedClock) -> Tenant:
    """A hybrid programme: 3 stamps for the reward, cooldown 15 min, 5 a day, PIN required,
    1 point per euro, no rewards in the catalogue."""
    return await make_tenant(database, settings, clock, slug="cafe-one")


@pytest.fixture
async def other_tenant(database: Database, settings: Settings, clock: FixedClock) -> Tenant:
    return await make_tenant(database, settings, clock, slug="bakery-two", pin="9876", email="other@example.com")
