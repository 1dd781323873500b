"""Demo data for `loyalty demo`: two shops, their programmes, staff PINs, a few cards and stamps.

The demo keys are fixed strings, so the README's curl examples work as printed. They exist only in
the demo database; a real deployment creates its keys with `loyalty keys create-admin` and the API.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from loyalty.clock import SystemClock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.models import ApiKey, Customer, LoyaltyCard, Vendor
from loyalty.models.api_key import ADMIN_SCOPE, OWNER_SCOPE
from loyalty.services import cards, pins, programs, stamps, vendors
from loyalty.services.api_keys import hash_key
from loyalty.services.context import Actor, Context
from loyalty.services.points import EarnRequest, earn_points

DEMO_ADMIN_KEY = "lyk_admin_demo_0000000000000000000000000000"
CAFE_KEY = "lyk_live_demo_cafe_00000000000000000000000000"
BAKERY_KEY = "lyk_live_demo_bakery_0000000000000000000000000"
CAFE_PIN, CAFE_PIN_2, BAKERY_PIN = "1234", "5678", "2468"


@dataclass(frozen=True)
class DemoCard:
    shop: str
    customer: str
    card_id: int
    card_number: str
    card_token: str


@dataclass(frozen=True)
class DemoSummary:
    cafe_slug: str
    bakery_slug: str
    cards: list[DemoCard]


async def seed_demo(database: Database, settings: Settings) -> DemoSummary:
    """Creates the demo data once; later runs find it and only report it."""
    clock = SystemClock()
    async with database.unit_of_work() as session:
        ctx = Context(session, settings, clock)
        if await session.scalar(select(Vendor).where(Vendor.slug == "cafe-demo")) is None:
            await _seed(ctx)
    async with database.unit_of_work() as session:
        return await _summary(session)


async def _seed(ctx: Context) -> None:
    cafe = await vendors.create_vendor(ctx, vendors.VendorFields(name="Café Demo", slug="cafe-demo"))
    bakery = await vendors.create_vendor(
        ctx, vendors.VendorFields(name="Bakery Demo", slug="bakery-demo", default_locale="fr")
    )
    now = ctx.clock.now()
    for secret, vendor_id, name in (
        (DEMO_ADMIN_KEY, None, "demo admin"),
        (CAFE_KEY, cafe.id, "demo counter"),
        (BAKERY_KEY, bakery.id, "demo counter"),
    ):
        ctx.session.add(
            ApiKey(
                vendor_id=vendor_id,
                scope=ADMIN_SCOPE if vendor_id is None else OWNER_SCOPE,
                name=name,
                key_prefix=secret[:14],
                key_hash=hash_key(secret),
                created_at=now,
            )
        )
    cafe_ctx = Context(ctx.session, ctx.settings, ctx.clock, Actor(vendor_id=cafe.id))
    cafe_program = await programs.create_program(
        cafe_ctx,
        programs.ProgramFields(
            program_type="stamps",
            name="Coffee card",
            stamps_target=10,
            stamps_reward_description="A free coffee of your choice",
            card_name="Café Demo coffee card",
            card_color="#6F4E37",
        ),
    )
    await pins.create_pin(cafe_ctx, cafe_program, pins.NewPin(name="Anna", pin=CAFE_PIN))
    await pins.create_pin(cafe_ctx, cafe_program, pins.NewPin(name="Luc", pin=CAFE_PIN_2))
    bakery_ctx = Context(ctx.session, ctx.settings, ctx.clock, Actor(vendor_id=bakery.id))
    bakery_program = await programs.create_program(
        bakery_ctx,
        programs.ProgramFields(
            program_type="points",
            name="Bakery points",
            points_per_euro=Decimal(10),
            points_rewards=[
                programs.Reward(name="Croissant", points_required=50),
                programs.Reward(name="Sourdough loaf", points_required=150),
            ],
            card_name="Bakery Demo points",
            card_color="#C8A165",
        ),
    )
    await pins.create_pin(bakery_ctx, bakery_program, pins.NewPin(name="Marie", pin=BAKERY_PIN))
    for email, name in (("alice@example.com", "Alice"), ("bob@example.com", "Bob")):
        view = await cards.enrol(cafe_ctx, cafe_program, cards.Enrolment(email=email, name=name))
        if name == "Bob":  # Alice's card stays fresh, so the first stamp a newcomer tries is not in cooldown
            await stamps.add_stamp(cafe_ctx, stamps.StampRequest(card_id=view.card.id, staff_pin=CAFE_PIN))
        view = await cards.enrol(bakery_ctx, bakery_program, cards.Enrolment(email=email, name=name))
        await earn_points(
            bakery_ctx, EarnRequest(card_id=view.card.id, purchase_amount_cents=1250, staff_pin=BAKERY_PIN)
        )


async def _summary(session: AsyncSession) -> DemoSummary:
    rows = await session.execute(
        select(LoyaltyCard, Vendor.name, Customer.name)
        .join(Vendor, Vendor.id == LoyaltyCard.vendor_id)
        .join(Customer, Customer.id == LoyaltyCard.customer_id)
        .where(Vendor.slug.in_(("cafe-demo", "bakery-demo")))
        .order_by(LoyaltyCard.id)
    )
    demo_cards = [
        DemoCard(shop, customer or "", card.id, card.card_number, card.card_token) for card, shop, customer in rows
    ]
    return DemoSummary(cafe_slug="cafe-demo", bakery_slug="bakery-demo", cards=demo_cards)
