"""Vendors' running totals: kept by the ledger and enrolment, summed by the platform statistics,
and rebuilt from scratch by `loyalty db rebuild-totals`."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.services import cards, points, stamps, stats, totals, voids
from loyalty.services.context import Context
from tests.services.helpers import assert_vendor_totals_consistent, caller_for
from tests.tenants import make_tenant

pytestmark = pytest.mark.anyio

REWARD = [{"id": 1, "name": "Croissant", "points_required": 10}]


async def busy_day(database: Database, settings: Settings, clock: FixedClock) -> None:
    """Two vendors; stamps, a reward, points earned and spent, a void and a second card each."""
    for slug, pin in (("north", "1111"), ("south", "2222")):
        tenant = await make_tenant(
            database,
            settings,
            clock,
            slug=slug,
            pin=pin,
            email=f"{slug}@example.com",
            cooldown_minutes=0,
            require_staff_pin=False,
            stamps_target=2,
            points_rewards=REWARD,
        )
        call = await caller_for(database, settings, clock, tenant)
        stamped = [await call(stamps.add_stamp, stamps.StampRequest(card_id=tenant.card_id)) for _ in range(3)]
        await call(stamps.redeem_stamps, stamps.StampRequest(card_id=tenant.card_id))
        await call(points.earn_points, points.EarnRequest(card_id=tenant.card_id, purchase_amount_cents=2550))
        await call(points.redeem_points, points.PointsRedeemRequest(card_id=tenant.card_id, reward_id=1))
        await call(voids.void_transaction, stamped[2].entry.id, voids.VoidRequest(reason="stamped twice"))
        await call.with_program(cards.enrol, cards.Enrolment(email=f"second-{slug}@example.com"))


async def test_the_ledger_and_enrolment_keep_the_totals_exact(
    database: Database, settings: Settings, clock: FixedClock
) -> None:
    await busy_day(database, settings, clock)
    await assert_vendor_totals_consistent(database)


async def test_platform_statistics_are_the_sum_of_the_totals(
    database: Database, settings: Settings, clock: FixedClock
) -> None:
    await busy_day(database, settings, clock)
    async with database.unit_of_work() as session:
        figures = await stats.platform_stats(Context(session, settings, clock))
        counted = (
            await session.execute(
                text(
                    "SELECT (SELECT count(*) FROM vendors), (SELECT count(*) FROM loyalty_cards),"
                    " (SELECT count(*) FROM loyalty_transactions),"
                    " (SELECT SUM(total_stamps_earned) FROM loyalty_cards),"
                    " (SELECT SUM(total_points_earned) FROM loyalty_cards)"
                )
            )
        ).one()
    assert (figures.vendors, figures.cards, figures.transactions, figures.stamps_issued, figures.points_issued) == (
        tuple(int(value) for value in counted)
    )
    assert figures.cards == 4 and figures.transactions == 2 * 7  # 3 stamps, a reward, earn, spend, a void


async def test_rebuild_recomputes_totals_that_went_wrong(
    database: Database, settings: Settings, clock: FixedClock
) -> None:
    await busy_day(database, settings, clock)
    async with database.unit_of_work() as session:  # as if rows had been loaded with SQL behind our back
        await session.execute(text("UPDATE vendor_totals SET cards = 0, entries = 999, points_issued = 5"))
    async with database.unit_of_work() as session:
        assert await totals.rebuild(session) == 2
    await assert_vendor_totals_consistent(database)
