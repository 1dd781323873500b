"""Demo data for `loyalty demo`: two shops, their programmes, staff PINs, a few cards, a month of the café's
visits, and the sign-in links of the café's owner and of a platform admin.

The demo keys are fixed strings, so the README's curl examples work as printed. They are published,
so they must exist only in a demo database: `demo_database_verdict` tells whether a database is one
(empty, or holding nothing but the demo's vendors and keys) before anything is written, and
`loyalty demo` refuses any other unless told explicitly. A real deployment creates its keys with
`loyalty keys create-admin` and the API.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from loyalty.clock import FixedClock, SystemClock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.models import ApiKey, Customer, LoyaltyCard, LoyaltyProgram, ProgramType, Terminal, User, Vendor
from loyalty.models.api_key import ADMIN_SCOPE, OWNER_SCOPE
from loyalty.services import accounts, cards, pins, programs, stamps, terminals, vendors
from loyalty.services.api_keys import hash_key
from loyalty.services.context import Actor, Context
from loyalty.services.points import EarnRequest, earn_points

DEMO_ADMIN_KEY = "lyk_admin_demo_0000000000000000000000000000"
CAFE_KEY = "lyk_live_demo_cafe_00000000000000000000000000"
BAKERY_KEY = "lyk_live_demo_bakery_0000000000000000000000000"
CAFE_PIN, CAFE_PIN_2, BAKERY_PIN = "1234", "5678", "2468"
CAFE_OWNER = "owner@cafe-demo.example"  # the café owner who signs in to the dashboard
PLATFORM_ADMIN = "admin@loyalty-demo.example"  # the platform admin who signs in to /admin
# A month of the café's visits before the first run, so the dashboard's chart and anomalies show something:
# each regular (first name, every how many days they come) is stamped at 8:00 + 20 minutes per regular.
REGULARS = (("Chloé", 4), ("David", 5), ("Emma", 6), ("Félix", 7), ("Gina", 9))
HISTORY_DAYS = 28
# One card stamped up to the daily limit on 3 of the last 7 days: the pattern the anomalies flag.
AT_THE_LIMIT = "Hugo"


DEMO_SLUGS = ("cafe-demo", "bakery-demo")
HOLDERS = (("alice@example.com", "Alice"), ("bob@example.com", "Bob"))  # the cards the demo prints


@dataclass(frozen=True)
class DemoVerdict:
    """Whether a database is the demo's own. It is when it is empty (no tables, or no vendor and no
    API key), or when the demo seeded it (its café and its admin key are there: what was added since
    came through the published demo keys, the README's walkthrough say). Otherwise `vendors` and
    `api_keys` count what it holds, for the refusal's one line."""

    is_demo_database: bool
    vendors: int = 0
    api_keys: int = 0


async def demo_database_verdict(database: Database) -> DemoVerdict:
    """Looks without writing, and before any migration, so a real database is not even migrated by
    the demo. Reads only `vendors.slug` and `api_keys.key_hash`, which every revision has."""
    async with database.engine.connect() as connection:
        return await connection.run_sync(_verdict)


def _verdict(connection: Connection) -> DemoVerdict:
    tables = set(inspect(connection).get_table_names())
    if not {"vendors", "api_keys"} <= tables:
        return DemoVerdict(is_demo_database=True)
    slugs = set(connection.execute(text("SELECT slug FROM vendors")).scalars())
    hashes = set(connection.execute(text("SELECT key_hash FROM api_keys")).scalars())
    seeded_by_demo = DEMO_SLUGS[0] in slugs and hash_key(DEMO_ADMIN_KEY) in hashes
    if seeded_by_demo or (not slugs and not hashes):
        return DemoVerdict(is_demo_database=True)
    return DemoVerdict(is_demo_database=False, vendors=len(slugs), api_keys=len(hashes))


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
    pairing_code: str = ""  # the café's counter terminal's, new on every run (10 minutes)
    owner_invitation: str | None = None  # the café owner's link while no password is chosen (new each run)
    admin_invitation: str | None = None  # the platform admin's, likewise


async def seed_demo(database: Database, settings: Settings) -> DemoSummary:
    """Creates the demo data once; later runs find it and only report it."""
    clock = SystemClock()
    async with database.unit_of_work() as session:
        ctx = Context(session, settings, clock)
        if await session.scalar(select(Vendor).where(Vendor.slug == "cafe-demo")) is None:
            await _seed(ctx)
    async with database.unit_of_work() as session:
        summary = await _summary(session)
        ctx = Context(session, settings, clock)
        return replace(
            summary,
            pairing_code=await _pairing_code(ctx),
            owner_invitation=await _owner_invitation(ctx),
            admin_invitation=await _admin_invitation(ctx),
        )


async def _seed(ctx: Context) -> None:
    cafe = await vendors.create_vendor(ctx, vendors.VendorCreate(name="Café Demo", slug="cafe-demo"))
    bakery = await vendors.create_vendor(
        ctx, vendors.VendorCreate(name="Bakery Demo", slug="bakery-demo", default_locale="fr")
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
        programs.ProgramCreate(
            program_type=ProgramType.STAMPS,
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
        programs.ProgramCreate(
            program_type=ProgramType.POINTS,
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
    for email, name in HOLDERS:
        view = await cards.enrol(cafe_ctx, cafe_program, cards.Enrolment(email=email, name=name))
        if name == "Bob":  # Alice's card stays fresh, so the first stamp a newcomer tries is not in cooldown
            await stamps.add_stamp(cafe_ctx, stamps.StampRequest(card_id=view.card.id, staff_pin=CAFE_PIN))
        view = await cards.enrol(bakery_ctx, bakery_program, cards.Enrolment(email=email, name=name))
        await earn_points(
            bakery_ctx, EarnRequest(card_id=view.card.id, purchase_amount_cents=1250, staff_pin=BAKERY_PIN)
        )
    await _seed_history(cafe_ctx, cafe_program)


async def _seed_history(ctx: Context, program: LoyaltyProgram) -> None:
    """The café's last month (REGULARS, AT_THE_LIMIT), each stamp given through the stamp service at its own
    moment (a FixedClock per visit), so the ledger, the striped totals and the statistics agree as if the
    counter had given them. Days are counted back from the local day before today."""
    today = SystemClock().now().replace(hour=8, minute=0, second=0, microsecond=0)

    def at(moment: datetime) -> Context:
        return Context(ctx.session, ctx.settings, FixedClock(moment), ctx.actor)

    start = today - timedelta(days=HISTORY_DAYS)
    for index, (name, every) in enumerate(REGULARS):
        card = await cards.enrol(at(start), program, cards.Enrolment(email=f"{_ascii(name)}@example.com", name=name))
        for day in range(HISTORY_DAYS, 0, -every):
            moment = today - timedelta(days=day) + timedelta(minutes=20 * index)
            await stamps.add_stamp(at(moment), stamps.StampRequest(card_id=card.card.id, staff_pin=CAFE_PIN_2))
    regular = await cards.enrol(at(start), program, cards.Enrolment(email="hugo@example.com", name=AT_THE_LIMIT))
    for day in (6, 4, 2):
        for visit in range(program.max_daily_stamps):
            moment = today - timedelta(days=day) + timedelta(hours=2, minutes=(program.cooldown_minutes + 1) * visit)
            await stamps.add_stamp(at(moment), stamps.StampRequest(card_id=regular.card.id, staff_pin=CAFE_PIN_2))


def _ascii(name: str) -> str:
    return name.lower().replace("é", "e")


async def _pairing_code(ctx: Context) -> str:
    """A fresh pairing code for the café's "Demo counter" terminal (made on the first run)."""
    cafe_id = await ctx.session.scalar(select(Vendor.id).where(Vendor.slug == DEMO_SLUGS[0]))
    assert cafe_id is not None  # seeded above
    cafe_ctx = Context(ctx.session, ctx.settings, ctx.clock, Actor(vendor_id=cafe_id))
    terminal_id = await ctx.session.scalar(
        select(Terminal.id).where(Terminal.vendor_id == cafe_id, Terminal.revoked_at.is_(None)).order_by(Terminal.id)
    )
    if terminal_id is None:
        return (await terminals.create_terminal(cafe_ctx, terminals.TerminalCreate(name="Demo counter"))).code
    return (await terminals.new_pairing_code(cafe_ctx, terminal_id)).code


async def _owner_invitation(ctx: Context) -> str | None:
    """The café owner's invitation path (`/vendor/invite/…`), fresh on every run until a password is chosen;
    None after. The demo sets no password for anyone: the newcomer chooses it, as a real owner would."""
    owner = await ctx.session.scalar(select(User).where(User.email_normalised == CAFE_OWNER))
    if owner is None:
        cafe_id = await ctx.session.scalar(select(Vendor.id).where(Vendor.slug == DEMO_SLUGS[0]))
        assert cafe_id is not None  # seeded above
        return (await accounts.invite(ctx, cafe_id, accounts.UserInvite(email=CAFE_OWNER, role="owner"))).path
    return await _until_accepted(ctx, owner)


async def _admin_invitation(ctx: Context) -> str | None:
    """The platform admin's invitation path (`/admin/invite/…`), as `loyalty users create-admin` prints it;
    fresh on every run until a password is chosen, None after."""
    admin = await ctx.session.scalar(select(User).where(User.email_normalised == PLATFORM_ADMIN))
    if admin is None:
        return (await accounts.create_admin(ctx, PLATFORM_ADMIN)).path
    return await _until_accepted(ctx, admin)


async def _until_accepted(ctx: Context, user: User) -> str | None:
    if user.password_hash is None:
        return (await accounts.invite_again(ctx, user)).path
    return None


async def _summary(session: AsyncSession) -> DemoSummary:
    rows = await session.execute(
        select(LoyaltyCard, Vendor.name, Customer.name)
        .join(Vendor, Vendor.id == LoyaltyCard.vendor_id)
        .join(Customer, Customer.id == LoyaltyCard.customer_id)
        .where(Vendor.slug.in_(DEMO_SLUGS), Customer.email.in_([email for email, _ in HOLDERS]))
        .order_by(LoyaltyCard.id)
    )
    demo_cards = [
        DemoCard(shop, customer or "", card.id, card.card_number, card.card_token) for card, shop, customer in rows
    ]
    return DemoSummary(cafe_slug="cafe-demo", bakery_slug="bakery-demo", cards=demo_cards)
