"""Tenants seeded through the services, so a router's tests do not depend on another router being written
(the `tenant` and `other_tenant` fixtures, tests/fixtures.py, are two of them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.services import api_keys, cards, pins, programs, vendors
from loyalty.services.context import Actor, Context
from tests.api.helpers import bearer


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


async def make_tenant(
    database: Database,
    settings: Settings,
    clock: Clock,
    *,
    slug: str,
    pin: str = "1234",
    staff_name: str = "Staff",
    email: str = "customer@example.com",
    **program_fields: Any,
) -> Tenant:
    """Seeds a vendor through the services; `program_fields` override ProgramCreate defaults."""
    fields: dict[str, Any] = {"program_type": "hybrid", "name": f"{slug} card", "stamps_target": 3}
    fields.update(program_fields)
    async with database.unit_of_work() as session:
        ctx = Context(session, settings, clock)
        vendor = await vendors.create_vendor(ctx, vendors.VendorCreate(name=slug.title(), slug=slug))
        issued = await api_keys.create_vendor_key(ctx, vendor.id, "counter")
        vctx = Context(session, settings, clock, Actor(vendor_id=vendor.id, api_key_id=issued.record.id))
        program = await programs.create_program(vctx, programs.ProgramCreate(**fields))
        staff_pin = await pins.create_pin(vctx, program, pins.NewPin(name=staff_name, pin=pin))
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
