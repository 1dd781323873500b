"""Programmes: one per vendor, the business-rule defaults, the catalogue, and the other services'
errors (vendors, API keys, customers)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, Protocol, TypeVar

import pytest
from pydantic import ValidationError

from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.errors import (
    ApiKeyNotFound,
    NotFound,
    ProgramAlreadyExists,
    ProgramNotFound,
    Unauthenticated,
    VendorAlreadyExists,
    VendorNotFound,
)
from loyalty.services import api_keys, customers, programs, vendors
from loyalty.services.context import Actor, Context
from loyalty.services.programs import ProgramCreate, ProgramUpdate, Reward
from tests.services.helpers import Caller
from tests.tenants import Tenant

pytestmark = pytest.mark.anyio

T = TypeVar("T")


class Admin(Protocol):
    """Runs a service in a unit of work of its own, as the platform or, given `vendor_id`, as that vendor."""

    async def __call__(
        self, service: Callable[..., Awaitable[T]], *args: Any, vendor_id: int | None = None, **kwargs: Any
    ) -> T: ...


@pytest.fixture
def admin(database: Database, settings: Settings, clock: FixedClock) -> Admin:
    async def run(service: Callable[..., Awaitable[T]], *args: Any, vendor_id: int | None = None, **kwargs: Any) -> T:
        async with database.unit_of_work() as session:
            actor = Actor(vendor_id=vendor_id) if vendor_id is not None else None
            return await service(Context(session, settings, clock, actor), *args, **kwargs)

    return run


async def test_a_new_programme_has_the_business_rule_defaults(admin: Admin) -> None:
    vendor = await admin(vendors.create_vendor, vendors.VendorCreate(name="Café Zéro"))
    assert (vendor.slug, vendor.timezone) == ("cafe-zero", "Europe/Luxembourg")
    program = await admin(programs.create_program, ProgramCreate(program_type="stamps", name="C"), vendor_id=vendor.id)
    assert (program.stamps_target, program.cooldown_minutes, program.max_daily_stamps) == (10, 15, 5)
    assert (program.require_staff_pin, program.points_per_euro, program.is_active) == (True, Decimal(1), True)


async def test_one_programme_per_vendor(admin: Admin, tenant: Tenant) -> None:
    with pytest.raises(ProgramAlreadyExists) as refused:
        await admin(programs.create_program, ProgramCreate(program_type="points", name="2"), vendor_id=tenant.vendor_id)
    assert refused.value.details == {"vendor_id": tenant.vendor_id}


async def test_a_vendor_without_a_programme_has_none(admin: Admin) -> None:
    vendor = await admin(vendors.create_vendor, vendors.VendorCreate(name="Empty"))
    with pytest.raises(ProgramNotFound) as missing:
        await admin(programs.get_program, vendor_id=vendor.id)
    assert missing.value.details == {"identifier": vendor.id}
    with pytest.raises(ProgramNotFound):
        await admin(programs.get_public_program, "empty")


async def test_reward_ids_are_given_and_kept(caller: Caller) -> None:
    rewards = [Reward(id=7, name="Cake", points_required=40), Reward(name="Tea", points_required=10)]
    program = await caller(programs.update_program, ProgramUpdate(points_rewards=rewards, points_per_euro="2.5"))
    assert [(r["id"], r["name"]) for r in program.points_rewards] == [(7, "Cake"), (8, "Tea")]
    assert program.reward(8) == {"id": 8, "name": "Tea", "points_required": 10, "is_active": True}
    stored = await caller(programs.get_program)
    assert stored.points_per_euro == Decimal("2.5")
    assert stored.points_rewards == program.points_rewards


def test_program_changes_are_validated() -> None:
    for bad in (
        {"stamps_target": 0},
        {"max_daily_stamps": 0},
        {"cooldown_minutes": -1},
        {"points_per_euro": "-1"},
        {"points_per_euro": "0.00001"},
        {"program_type": "cashback"},
        {"card_color": "red"},
        {"cooldown_minutes": None},
        {
            "points_rewards": [
                {"id": 1, "name": "A", "points_required": 1},
                {"id": 1, "name": "B", "points_required": 2},
            ]
        },
        {"points_rewards": [{"name": "Free", "points_required": 0}]},
    ):
        with pytest.raises(ValidationError):
            ProgramUpdate(**bad)


async def test_a_paused_programme_is_hidden_from_the_public(caller: Caller, admin: Admin, tenant: Tenant) -> None:
    assert (await admin(programs.get_public_program, tenant.slug))[0].id == tenant.program_id

    async def pause(ctx: Context) -> None:
        await programs.set_program_active(ctx, await programs.get_program(ctx), False)

    await caller(pause)
    with pytest.raises(ProgramNotFound):
        await admin(programs.get_public_program, tenant.slug)


async def test_vendor_slugs_are_unique(admin: Admin, tenant: Tenant) -> None:
    with pytest.raises(VendorAlreadyExists):
        await admin(vendors.create_vendor, vendors.VendorCreate(name="Other", slug=tenant.slug))
    with pytest.raises(VendorNotFound) as missing:
        await admin(vendors.get_vendor, 999_999)
    assert missing.value.details == {"identifier": 999_999}
    with pytest.raises(VendorNotFound):
        await admin(api_keys.create_vendor_key, 999_999, "ghost")


def test_a_vendor_needs_a_real_timezone() -> None:
    with pytest.raises(ValidationError):
        vendors.VendorCreate(name="X", timezone="Europe/Atlantis")


async def test_api_keys_authenticate_until_revoked(admin: Admin, tenant: Tenant, database: Database) -> None:
    async def identify(secret: str | None) -> api_keys.KeyHolder:  # what every request does with its key
        async with database.unit_of_work() as session:
            return await api_keys.identify(session, secret)

    await admin(api_keys.create_admin_key, "break-glass")  # the last admin key cannot be revoked
    issued = await admin(api_keys.create_admin_key, "ops")
    assert issued.secret.startswith(api_keys.ADMIN_PREFIX)
    assert issued.record.key_hash != issued.secret and issued.secret not in issued.record.key_hash
    assert (await identify(issued.secret)).key_id == issued.record.id
    vendor_key = await identify(tenant.key)
    assert vendor_key.vendor_id == tenant.vendor_id

    await admin(api_keys.revoke_key, issued.record.id)
    for secret in (issued.secret, None, "", "lyk_admin_guess"):
        with pytest.raises(Unauthenticated):
            await identify(secret)
    with pytest.raises(ApiKeyNotFound):
        await admin(api_keys.revoke_key, 999_999)


async def test_customer_erasure_keeps_the_ledger(database: Database, caller: Caller, tenant: Tenant) -> None:
    from loyalty.services.stamps import StampRequest, add_stamp
    from tests.services import helpers

    await caller(add_stamp, StampRequest(card_id=tenant.card_id, staff_pin=tenant.pin))
    card = await helpers.card(database, tenant.card_id)
    exported = await caller(customers.export_customer, card.customer_id)
    assert exported["customer"]["email"] == "customer@example.com"
    assert len(exported["transactions"]) == 1 and "client_ip" not in exported["transactions"][0]

    await caller(customers.erase_customer, card.customer_id)
    exported = await caller(customers.export_customer, card.customer_id)
    assert exported["customer"]["email"] == f"erased-{card.customer_id}@invalid"
    assert exported["customer"]["name"] is None
    assert [c["is_active"] for c in exported["cards"]] == [False]
    assert len(await helpers.ledger(database, tenant.card_id)) == 1
    await helpers.assert_ledger_consistent(database)


async def test_another_vendors_customer_is_not_found(caller: Caller, other_tenant: Tenant, database: Database) -> None:
    from tests.services import helpers

    card = await helpers.card(database, other_tenant.card_id)
    with pytest.raises(NotFound):
        await caller(customers.export_customer, card.customer_id)
    with pytest.raises(NotFound):
        await caller(customers.erase_customer, card.customer_id)
