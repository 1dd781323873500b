"""A fresh `loyalty_bench` database: migrations, then the tenants of the load phases.

Vendors, API keys, programmes and staff PINs go through the services (real key hashes, real bcrypt
PIN hashes, the programme rules' own validation); customers and cards are generated with SQL
(`cards.py`), contiguous in id per vendor, so pgbench can map a random card onto its vendor.
"""

from __future__ import annotations

import asyncio
import subprocess
from dataclasses import dataclass

from bench import cards
from bench.common import BENCH_URL, DB_NAME, PG_ADMIN_URL, SECRET_KEY, VENV_BIN, log, psql, rebuild_totals, server_env
from loyalty.clock import SystemClock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.models import ProgramType
from loyalty.services import api_keys, pins, programs, vendors
from loyalty.services.context import Actor, Context

PIN = "4826"
# Distinct id ranges make the ids of one stamp easy to tell apart from every other number in its
# statements (a vendor id 1 would look like a delta of 1), which the pgbench script relies on.
SEQUENCE_STARTS = {
    "vendors_id_seq": 10_001,
    "loyalty_programs_id_seq": 30_001,
    "customers_id_seq": 5_000_001,
    "loyalty_cards_id_seq": 1_000_001,
}


@dataclass(frozen=True)
class Group:
    """Vendors of one programme shape; card i (0-based) of the group has id first_card + i and
    belongs to vendor first_vendor + i // per_vendor, whose programme is first_program + i // per_vendor."""

    name: str
    keys: list[str]
    first_vendor: int
    first_program: int
    first_card: int
    per_vendor: int

    @property
    def cards(self) -> int:
        return len(self.keys) * self.per_vendor


@dataclass(frozen=True)
class Tenants:
    stamps: Group  # no PIN, cooldown 0, the highest daily limit: phases 1-3
    pins: Group  # staff PIN required: phase 4
    admin_key: str


def create_database() -> None:
    psql(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)", url=PG_ADMIN_URL)
    psql(f"CREATE DATABASE {DB_NAME}", url=PG_ADMIN_URL)
    subprocess.run([str(VENV_BIN / "loyalty"), "db", "upgrade"], env=server_env(), check=True, capture_output=True)
    psql(";".join(f"ALTER SEQUENCE {name} RESTART WITH {start}" for name, start in SEQUENCE_STARTS.items()))


def seed(
    stamp_vendors: int, stamp_cards_per_vendor: int, pin_vendors: int, pin_cards_per_vendor: int, bcrypt_rounds: int
) -> Tenants:
    settings = Settings(database_url=BENCH_URL, secret_key=SECRET_KEY, bcrypt_rounds=bcrypt_rounds)
    stamps, pin_group, admin = asyncio.run(_seed_services(settings, stamp_vendors, pin_vendors))
    stamps = cards.generate_load_cards(stamps, stamp_cards_per_vendor)
    pin_group = cards.generate_load_cards(pin_group, pin_cards_per_vendor)
    rebuild_totals()
    psql("VACUUM ANALYZE")
    log(
        f"seeded {stamps.cards} cards over {len(stamps.keys)} no-PIN vendors, "
        f"{pin_group.cards} cards over {len(pin_group.keys)} PIN vendors"
    )
    return Tenants(stamps=stamps, pins=pin_group, admin_key=admin)


async def _seed_services(settings: Settings, stamp_vendors: int, pin_vendors: int) -> tuple[Group, Group, str]:
    database = Database.from_url(BENCH_URL)
    clock = SystemClock()
    try:
        async with database.unit_of_work() as session:
            ctx = Context(session, settings, clock)
            admin = (await api_keys.create_admin_key(ctx, "bench admin")).secret
            no_pin = programs.ProgramCreate(
                program_type=ProgramType.STAMPS,
                name="Bench card",
                cooldown_minutes=0,
                max_daily_stamps=1000,
                require_staff_pin=False,
            )
            with_pin = no_pin.model_copy(update={"require_staff_pin": True})
            stamps = await _vendors(ctx, "bench-load", stamp_vendors, no_pin, pin=None)
            pin_group = await _vendors(ctx, "bench-pin", pin_vendors, with_pin, pin=PIN)
        return stamps, pin_group, admin
    finally:
        await database.dispose()


async def _vendors(ctx: Context, prefix: str, count: int, fields: programs.ProgramCreate, pin: str | None) -> Group:
    keys, vendor_ids, program_ids = [], [], []
    for index in range(count):
        vendor = await vendors.create_vendor(
            ctx, vendors.VendorCreate(name=f"{prefix} {index}", slug=f"{prefix}-{index}")
        )
        issued = await api_keys.create_vendor_key(ctx, vendor.id, "bench counter")
        vctx = Context(ctx.session, ctx.settings, ctx.clock, Actor(vendor_id=vendor.id, api_key_id=issued.record.id))
        program = await programs.create_program(vctx, fields)
        if pin is not None:
            await pins.create_pin(vctx, program, pins.NewPin(name="Bench staff", pin=pin))
        keys.append(issued.secret)
        vendor_ids.append(vendor.id)
        program_ids.append(program.id)
    await ctx.session.flush()
    for ids in (vendor_ids, program_ids):
        if ids != list(range(ids[0], ids[0] + count)):
            raise RuntimeError(f"{prefix}: ids are not contiguous ({ids[:5]}...)")
    return Group(prefix, keys, vendor_ids[0], program_ids[0], first_card=0, per_vendor=0)
