"""Statistics for a programme (its vendor's dashboard) and for the whole platform (the admin's)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, case, func, select

from loyalty.clock import local_day, local_midnight
from loyalty.models import LoyaltyCard, LoyaltyProgram, LoyaltyTransaction, TransactionType, Vendor, VendorTotals
from loyalty.services.context import Context

DAYS = 30


@dataclass(frozen=True)
class DailyFigures:
    date: date
    stamps: int = 0
    points_earned: int = 0
    redemptions: int = 0
    new_cards: int = 0


@dataclass(frozen=True)
class ProgramStats:
    total_cards: int
    active_cards_30d: int
    stamps_issued: int
    stamps_redeemed: int
    points_issued: int
    points_redeemed: int
    transactions_30d: int
    daily: list[DailyFigures]


@dataclass(frozen=True)
class PlatformStats:
    vendors: int
    programs: int
    active_programs: int
    cards: int
    transactions: int
    stamps_issued: int
    points_issued: int


def _local_days(now: datetime, timezone: str) -> list[tuple[date, datetime]]:
    """The last DAYS local days, oldest first, each with its start instant (exact across DST)."""
    today = local_day(now, timezone)
    days = [today - timedelta(days=back) for back in range(DAYS - 1, -1, -1)]
    return [(day, local_midnight(day, timezone)) for day in days]


def day_index(column: Any, starts: list[datetime]) -> ColumnElement[Any]:
    """Which of the local days an instant falls in, as a CASE over the day boundaries: portable SQL
    (no timezone functions), and right on 23- and 25-hour days."""
    return case(
        *[(column >= start, index) for index, start in reversed(list(enumerate(starts)))],
        else_=-1,
    )


async def program_stats(ctx: Context, program: LoyaltyProgram, timezone: str) -> ProgramStats:
    """The programme's dashboard: its cards and their running totals (stamps and points issued and
    redeemed), the entries and active cards of the last 30 days (a rolling 30 × 24 hours), and one
    DailyFigures per local calendar day of `timezone` (IANA), the last DAYS days oldest first, exact on
    23- and 25-hour days (docs/rules.md, "Stamps": days are the vendor's local days). Raises nothing.

    A vendor has one programme, so its ledger and cards are filtered by `vendor_id`: the column
    the (vendor_id, transaction_at) and (vendor_id, enrolled_at) indexes lead with."""
    now = ctx.clock.now()
    days = _local_days(now, timezone)
    starts = [start for _, start in days]
    since = now - timedelta(days=DAYS)
    totals = (
        await ctx.session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(LoyaltyCard.total_stamps_earned), 0),
                func.coalesce(func.sum(LoyaltyCard.stamps_redeemed), 0),
                func.coalesce(func.sum(LoyaltyCard.total_points_earned), 0),
                func.coalesce(func.sum(LoyaltyCard.total_points_redeemed), 0),
            ).where(LoyaltyCard.program_id == program.id)
        )
    ).one()
    recent = (
        await ctx.session.execute(
            select(func.count(), func.count(func.distinct(LoyaltyTransaction.card_id))).where(
                LoyaltyTransaction.vendor_id == program.vendor_id, LoyaltyTransaction.transaction_at >= since
            )
        )
    ).one()
    return ProgramStats(
        total_cards=totals[0],
        active_cards_30d=recent[1],
        stamps_issued=int(totals[1]),
        stamps_redeemed=int(totals[2]),
        points_issued=int(totals[3]),
        points_redeemed=int(totals[4]),
        transactions_30d=recent[0],
        daily=await _daily(ctx, program, days, starts),
    )


async def _daily(
    ctx: Context, program: LoyaltyProgram, days: list[tuple[date, datetime]], starts: list[datetime]
) -> list[DailyFigures]:
    figures: dict[int, dict[str, int]] = {index: {} for index in range(len(days))}
    t = LoyaltyTransaction
    day = day_index(t.transaction_at, starts).label("day")
    ledger_rows = await ctx.session.execute(
        select(
            day,
            func.sum(case((t.transaction_type == TransactionType.STAMP_EARNED, 1), else_=0)),
            func.sum(case((t.transaction_type == TransactionType.POINTS_EARNED, t.points_delta), else_=0)),
            func.sum(
                case(
                    (t.transaction_type.in_((TransactionType.STAMP_REDEEMED, TransactionType.POINTS_REDEEMED)), 1),
                    else_=0,
                )
            ),
        )
        .where(t.vendor_id == program.vendor_id, t.transaction_at >= starts[0])
        .group_by(day)
    )
    for index, stamps, points, redemptions in ledger_rows:
        if index >= 0:
            figures[index].update(stamps=int(stamps), points_earned=int(points), redemptions=int(redemptions))
    enrolled_day = day_index(LoyaltyCard.enrolled_at, starts).label("day")
    card_rows = await ctx.session.execute(
        select(enrolled_day, func.count())
        .where(LoyaltyCard.vendor_id == program.vendor_id, LoyaltyCard.enrolled_at >= starts[0])
        .group_by(enrolled_day)
    )
    for index, new_cards in card_rows:
        if index >= 0:
            figures[index]["new_cards"] = new_cards
    return [DailyFigures(date=day_, **figures[index]) for index, (day_, _) in enumerate(days)]


async def platform_stats(ctx: Context) -> PlatformStats:
    """The platform's counts (vendors, programmes and active ones, cards, ledger entries, stamps and
    points issued). Sums the vendors' running totals (a few rows per vendor), not every card and ledger
    row. Raises nothing."""
    session = ctx.session
    programs = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(case((LoyaltyProgram.is_active, 1), else_=0)), 0)).select_from(
                LoyaltyProgram
            )
        )
    ).one()
    totals = (
        await session.execute(
            select(
                select(func.count()).select_from(Vendor).scalar_subquery(),
                *[
                    func.coalesce(func.sum(column), 0)
                    for column in (VendorTotals.cards, VendorTotals.entries, VendorTotals.stamps_issued)
                ],
                func.coalesce(func.sum(VendorTotals.points_issued), 0),
            )
        )
    ).one()
    return PlatformStats(
        vendors=totals[0],
        programs=programs[0],
        active_programs=int(programs[1]),
        cards=int(totals[1]),
        transactions=int(totals[2]),
        stamps_issued=int(totals[3]),
        points_issued=int(totals[4]),
    )


@dataclass(frozen=True)
class VendorSummary:
    """A vendor as the platform's admin sees it in a list: its programme (none yet: None), its running totals,
    its ledger entries of the last DAYS days (a rolling DAYS × 24 hours, as `program_stats`' `transactions_30d`)
    and the instant of its latest entry (None: none yet)."""

    vendor: Vendor
    program_type: str | None
    program_active: bool | None
    cards: int
    transactions: int
    transactions_30d: int = 0
    last_activity_at: datetime | None = None


async def vendor_summaries(ctx: Context, *, limit: int) -> list[VendorSummary]:
    """The first `limit` vendors by id, each with its programme's type and state, its running totals (the
    vendors' striped totals, a few rows each: no card is read), its entries of the last DAYS days and its
    latest entry's instant. Raises nothing.

    The last two come from the ledger's (vendor_id, transaction_at) index, never its rows: a count over the
    index's last DAYS days of the vendor and one backward step for the latest, per vendor listed."""
    cards = func.coalesce(func.sum(VendorTotals.cards), 0)
    entries = func.coalesce(func.sum(VendorTotals.entries), 0)
    ledger = LoyaltyTransaction
    since = ctx.clock.now() - timedelta(days=DAYS)
    recent = (
        select(func.count())
        .where(ledger.vendor_id == Vendor.id, ledger.transaction_at >= since)
        .correlate(Vendor)
        .scalar_subquery()
    )
    latest = (
        select(func.max(ledger.transaction_at)).where(ledger.vendor_id == Vendor.id).correlate(Vendor).scalar_subquery()
    )
    rows = await ctx.session.execute(
        select(Vendor, LoyaltyProgram.program_type, LoyaltyProgram.is_active, cards, entries, recent, latest)
        .outerjoin(LoyaltyProgram, LoyaltyProgram.vendor_id == Vendor.id)
        .outerjoin(VendorTotals, VendorTotals.vendor_id == Vendor.id)
        .group_by(Vendor.id, LoyaltyProgram.program_type, LoyaltyProgram.is_active)
        .order_by(Vendor.id)
        .limit(limit)
    )
    return [
        VendorSummary(vendor, kind, active, int(n_cards), int(n_entries), int(n_recent), last)
        for vendor, kind, active, n_cards, n_entries, n_recent, last in rows
    ]
