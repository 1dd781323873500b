"""Helpers for the service tests: one unit of work per call (like one API request), the tenant's
actor, and the ledger invariants checked in SQL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.models import ApiKey, LoyaltyCard, LoyaltyProgram, LoyaltyTransaction, PinGuard, StaffPin
from loyalty.services import programs
from loyalty.services.context import Actor, Context
from tests.tenants import Tenant

T = TypeVar("T")

CLIENT_IP = "203.0.113.7"
USER_AGENT = "pytest-terminal/1.0"


@dataclass(frozen=True)
class Caller:
    """Calls services as one tenant's terminal, each call in its own unit of work."""

    database: Database
    settings: Settings
    clock: FixedClock
    actor: Actor

    def context(self, session: AsyncSession) -> Context:
        return Context(session, self.settings, self.clock, self.actor)

    def as_terminal(self, **actor_fields: Any) -> Caller:
        return replace(self, actor=replace(self.actor, **actor_fields))

    async def __call__(self, service: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        async with self.database.unit_of_work() as session:
            return await service(self.context(session), *args, **kwargs)

    async def with_program(self, service: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """For services taking (ctx, program, ...)."""
        async with self.database.unit_of_work() as session:
            ctx = self.context(session)
            return await service(ctx, await programs.get_program(ctx), *args, **kwargs)


async def caller_for(database: Database, settings: Settings, clock: FixedClock, tenant: Tenant) -> Caller:
    async with database.unit_of_work() as session:
        key_id = await session.scalar(select(ApiKey.id).where(ApiKey.vendor_id == tenant.vendor_id))
    actor = Actor(vendor_id=tenant.vendor_id, api_key_id=key_id, client_ip=CLIENT_IP, user_agent=USER_AGENT)
    return Caller(database, settings, clock, actor)


async def load(database: Database, model: type[T], row_id: int) -> T:
    async with database.unit_of_work() as session:
        row = await session.get(model, row_id)
        assert row is not None
        return row


async def card(database: Database, card_id: int) -> LoyaltyCard:
    return await load(database, LoyaltyCard, card_id)


async def staff_pin(database: Database, pin_id: int) -> StaffPin:
    return await load(database, StaffPin, pin_id)


async def ledger(database: Database, card_id: int | None = None) -> list[LoyaltyTransaction]:
    query = select(LoyaltyTransaction).order_by(LoyaltyTransaction.id)
    if card_id is not None:
        query = query.where(LoyaltyTransaction.card_id == card_id)
    async with database.unit_of_work() as session:
        return list(await session.scalars(query))


async def guards(database: Database) -> list[PinGuard]:
    async with database.unit_of_work() as session:
        return list(await session.scalars(select(PinGuard).order_by(PinGuard.id)))


async def set_program(database: Database, program_id: int, **values: Any) -> None:
    """Direct changes for test set-up (cooldown, limits) without going through the PATCH rules."""
    async with database.unit_of_work() as session:
        program = await session.get(LoyaltyProgram, program_id)
        assert program is not None
        for name, value in values.items():
            setattr(program, name, value)


async def assert_ledger_consistent(database: Database) -> None:
    """For every card: stamp_count = Σ stamps_delta, points_balance = Σ points_delta, and each row's
    *_balance_after is the running sum up to it."""
    async with database.unit_of_work() as session:
        sums = (
            await session.execute(
                text(
                    "SELECT c.id, c.stamp_count, c.points_balance,"
                    " COALESCE(SUM(t.stamps_delta), 0), COALESCE(SUM(t.points_delta), 0)"
                    " FROM loyalty_cards c LEFT JOIN loyalty_transactions t ON t.card_id = c.id"
                    " GROUP BY c.id, c.stamp_count, c.points_balance"
                )
            )
        ).all()
        rows = (
            await session.execute(
                text(
                    "SELECT card_id, stamps_delta, points_delta, stamps_balance_after, points_balance_after"
                    " FROM loyalty_transactions ORDER BY card_id, id"
                )
            )
        ).all()
    for card_id, stamp_count, points_balance, stamps_sum, points_sum in sums:
        assert (stamp_count, points_balance) == (stamps_sum, points_sum), f"card {card_id} disagrees with its ledger"
        assert stamp_count >= 0 and points_balance >= 0
    running: dict[int, tuple[int, int]] = {}
    for card_id, stamps_delta, points_delta, stamps_after, points_after in rows:
        stamps, points = running.get(card_id, (0, 0))
        running[card_id] = (stamps + stamps_delta, points + points_delta)
        assert running[card_id] == (stamps_after, points_after), f"card {card_id}: balance_after out of step"
    await assert_vendor_totals_consistent(database)


async def assert_vendor_totals_consistent(database: Database) -> None:
    """Each vendor's running totals equal what its cards and ledger add up to."""
    async with database.unit_of_work() as session:
        kept = (
            await session.execute(
                text(
                    "SELECT vendor_id, SUM(cards), SUM(entries), SUM(stamps_issued), SUM(stamps_redeemed),"
                    " SUM(points_issued), SUM(points_redeemed) FROM vendor_totals GROUP BY vendor_id ORDER BY vendor_id"
                )
            )
        ).all()
        counted = (
            await session.execute(
                text(
                    "SELECT v.id, COALESCE(c.cards, 0), COALESCE(e.entries, 0), COALESCE(c.stamps_issued, 0),"
                    " COALESCE(c.stamps_redeemed, 0), COALESCE(c.points_issued, 0), COALESCE(c.points_redeemed, 0)"
                    " FROM vendors v"
                    " LEFT JOIN (SELECT vendor_id, count(*) AS cards, SUM(total_stamps_earned) AS stamps_issued,"
                    "   SUM(stamps_redeemed) AS stamps_redeemed, SUM(total_points_earned) AS points_issued,"
                    "   SUM(total_points_redeemed) AS points_redeemed FROM loyalty_cards GROUP BY vendor_id) c"
                    "   ON c.vendor_id = v.id"
                    " LEFT JOIN (SELECT vendor_id, count(*) AS entries FROM loyalty_transactions GROUP BY vendor_id) e"
                    "   ON e.vendor_id = v.id"
                    " ORDER BY v.id"
                )
            )
        ).all()
    assert [tuple(row) for row in kept] == [tuple(row) for row in counted], "vendor totals disagree"
