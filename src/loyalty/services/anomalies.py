"""What may be staff fraud, on the vendor's dashboard (PAGES.md, "Vendor dashboard", "Anomalies"): patterns
in the last WINDOW_DAYS local days of the vendor's time zone (today and the six days before it).

The four rules, each plainly stated so a shop owner can check them by hand:

1. **Daily limit**: a card given the programme's `max_daily_stamps` stamps on DAYS_AT_LIMIT or more of
   those days (voided stamps count, as they do for the limit itself). The limit is today's setting.
2. **Two terminals**: a card stamped at one paired terminal and then tried at another within the programme's
   `cooldown_minutes`: the refused attempts (`cooldown_refusals`, kept after the refused request rolled
   back) whose card's last stamp came from another terminal less than a cooldown before. Accepted stamps
   that close together from two terminals count too (consecutive stamps of one card): the stamp rules
   refuse them while the cooldown stays the same, so they show when the cooldown was raised afterwards.
3. **Staff share**: a member of staff whose share of the shop's redemptions (stamp and points rewards), or
   of its voids, is at least SHARE_FACTOR times their share of its earning entries (stamps given and
   points earned: the counter's everyday work), with at least SHARE_MIN_ENTRIES such redemptions or voids.
   A member of staff who earned nothing has a share of 0, so five redemptions by them are enough.
4. **PIN failures**: a counter terminal (a paired terminal, an API key or an address) with PIN_FAILURES or
   more wrong PINs counted in one lockout window that began in those days (`pin_guards`; a lockout comes
   at LOYALTY_PIN_MAX_ATTEMPTS, so a locked terminal is always listed).

Every figure is an SQL aggregate over the (vendor_id, transaction_at) index's last days; Python only
sorts the few rows that come back. Each anomaly carries the ids of the ledger entries behind it (the
newest MAX_LINKED of them) and the card, staff PIN or terminal it is about, for a link to the ledger.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, case, func, select

from loyalty.clock import local_day, local_midnight
from loyalty.db import is_postgres
from loyalty.models import CooldownRefusal, LoyaltyProgram, LoyaltyTransaction, StaffPin, Terminal, TransactionType
from loyalty.services import pins, transactions
from loyalty.services.context import Context
from loyalty.services.stats import day_index

WINDOW_DAYS = 7
DAYS_AT_LIMIT = 3
SHARE_FACTOR = 2
SHARE_MIN_ENTRIES = 5
PIN_FAILURES = 3
MAX_LISTED = 20  # anomalies of one rule shown: more would hide the others
MAX_LINKED = 300  # entry ids an anomaly links to (the newest), what /vendor/ledger?entries= takes

EARNING = (TransactionType.STAMP_EARNED, TransactionType.POINTS_EARNED)
REDEEMING = (TransactionType.STAMP_REDEEMED, TransactionType.POINTS_REDEEMED)
_LEDGER = LoyaltyTransaction
Kind = Literal["redemptions", "voids"]  # what a staff share counts
_KINDS: dict[Kind, tuple[TransactionType, ...]] = {"redemptions": REDEEMING, "voids": (TransactionType.VOID,)}


@dataclass(frozen=True)
class DailyLimitCard:
    """A card at its daily limit on `days` of the last days (`limit`: stamps a day); `entry_ids` its stamps
    on those days, newest first."""

    card_id: int
    card_number: str  # as printed, in groups of four
    days: int
    limit: int
    entry_ids: tuple[int, ...]
    kind: Literal["daily_limit"] = "daily_limit"


@dataclass(frozen=True)
class TwoTerminalCard:
    """A card stamped at different terminals less than `cooldown_minutes` apart (`times` pairs of accepted
    stamps), or stamped at one and refused at another within it (`refused` attempts); the terminals involved
    (ids and names, in id order) and the stamps behind it, newest first."""

    card_id: int
    card_number: str
    cooldown_minutes: int
    times: int
    refused: int
    terminal_ids: tuple[int, ...]
    terminal_names: tuple[str, ...]
    entry_ids: tuple[int, ...]
    kind: Literal["two_terminals"] = "two_terminals"


@dataclass(frozen=True)
class StaffShare:
    """A member of staff with `count` of the shop's `total` redemptions or voids (`what`) in the last days,
    `share_percent` of them, against `earning_percent` of its earning entries (both rounded down); the
    entries are their redemptions or voids, newest first."""

    staff_pin_id: int
    staff_name: str
    what: Kind
    count: int
    total: int
    share_percent: int
    earning_percent: int
    entry_ids: tuple[int, ...]
    kind: Literal["staff_share"] = "staff_share"


@dataclass(frozen=True)
class PinFailures:
    """Wrong PINs counted against a counter device: `failed_attempts` since `since` (UTC), locked until
    `locked_until` (None: not locked now). `terminal_id` is a paired terminal's (its ledger entries are the
    rows to look at); an API key has `api_key_id`, an address neither. `name` is the terminal's or key's, or
    the address."""

    name: str
    failed_attempts: int
    since: datetime | None
    locked_until: datetime | None
    terminal_id: int | None = None
    api_key_id: int | None = None
    entry_ids: tuple[int, ...] = field(default=())  # wrong PINs leave no ledger entry
    kind: Literal["pin_failures"] = "pin_failures"


Anomaly = DailyLimitCard | TwoTerminalCard | StaffShare | PinFailures


@dataclass(frozen=True)
class Anomalies:
    """The anomalies of the last WINDOW_DAYS local days, by rule; each list at most MAX_LISTED long."""

    daily_limits: list[DailyLimitCard]
    two_terminals: list[TwoTerminalCard]
    staff_shares: list[StaffShare]
    pin_failures: list[PinFailures]

    @property
    def all(self) -> list[Anomaly]:
        return [*self.daily_limits, *self.two_terminals, *self.staff_shares, *self.pin_failures]


async def find_anomalies(ctx: Context, program: LoyaltyProgram, timezone: str) -> Anomalies:
    """The calling vendor's anomalies over the last WINDOW_DAYS local days of `timezone` (IANA), by the
    rules of this module's docstring, `program` being the vendor's. Raises nothing."""
    now = ctx.clock.now()
    today = local_day(now, timezone)
    starts = [local_midnight(today - timedelta(days=back), timezone) for back in range(WINDOW_DAYS - 1, -1, -1)]
    return Anomalies(
        daily_limits=await _daily_limits(ctx, program, starts),
        two_terminals=await _two_terminals(ctx, program, starts[0]),
        staff_shares=await _staff_shares(ctx, starts[0]),
        pin_failures=await _pin_failures(ctx, program, starts[0], now),
    )


# --- 1. daily limit --------------------------------------------------------------------------------


async def _daily_limits(ctx: Context, program: LoyaltyProgram, starts: list[datetime]) -> list[DailyLimitCard]:
    limit = program.max_daily_stamps
    day = day_index(_LEDGER.transaction_at, starts).label("day")
    days_at_limit = (
        select(_LEDGER.card_id, day)
        .where(*_stamps_since(ctx, starts[0]))
        .group_by(_LEDGER.card_id, day)
        .having(func.count() >= limit)
        .subquery()
    )
    days = func.count().label("days")
    found = await ctx.session.execute(
        select(days_at_limit.c.card_id, days)
        .group_by(days_at_limit.c.card_id)
        .having(func.count() >= DAYS_AT_LIMIT)
        .order_by(days.desc(), days_at_limit.c.card_id)
        .limit(MAX_LISTED)
    )
    flagged: dict[int, int] = {card_id: count for card_id, count in found}
    if not flagged:
        return []
    # The flagged cards' stamps of these days (at most MAX_LISTED × WINDOW_DAYS × limit rows), newest first:
    # which of them fell on a day at the limit.
    rows = await ctx.session.execute(
        select(_LEDGER.id, _LEDGER.card_id, day)
        .where(*_stamps_since(ctx, starts[0]), _LEDGER.card_id.in_(flagged))
        .order_by(*_NEWEST_FIRST)
    )
    by_day: dict[tuple[int, int], list[int]] = defaultdict(list)
    for entry_id, card_id, index in rows:
        by_day[(card_id, index)].append(entry_id)
    entries: dict[int, list[int]] = defaultdict(list)
    for (card_id, _), ids in by_day.items():
        if len(ids) >= limit:
            entries[card_id].extend(ids)
    numbers = await transactions.card_numbers(ctx, flagged)
    return [
        DailyLimitCard(card_id, numbers[card_id], count, limit, _newest(entries[card_id]))
        for card_id, count in flagged.items()
    ]


def _stamps_since(ctx: Context, since: datetime) -> tuple[ColumnElement[bool], ...]:
    return (
        _LEDGER.vendor_id == ctx.vendor_id,
        _LEDGER.transaction_type == TransactionType.STAMP_EARNED,
        _LEDGER.transaction_at >= since,
    )


_NEWEST_FIRST = (_LEDGER.transaction_at.desc(), _LEDGER.id.desc())


def _newest(entry_ids: Collection[int]) -> tuple[int, ...]:
    """The newest MAX_LINKED ids (ledger ids grow with time), newest first."""
    return tuple(sorted(entry_ids, reverse=True)[:MAX_LINKED])


# --- 2. two terminals within the cooldown -----------------------------------------------------------


async def _two_terminals(ctx: Context, program: LoyaltyProgram, since: datetime) -> list[TwoTerminalCard]:
    cooldown = program.cooldown_minutes
    if not cooldown:
        return []  # nothing is closer together than no time at all
    # Each stamp beside the card's stamp before it (consecutive stamps suffice: if any two stamps from two
    # terminals are closer than the cooldown, two consecutive ones between them are). The stamps before the
    # window by up to a cooldown are read too, so a pair across its start is seen.
    order = (_LEDGER.transaction_at, _LEDGER.id)
    stamps = (
        select(
            _LEDGER.id,
            _LEDGER.card_id,
            _LEDGER.terminal_id,
            _LEDGER.transaction_at,
            func.lag(_LEDGER.id).over(partition_by=_LEDGER.card_id, order_by=order).label("before_id"),
            func.lag(_LEDGER.terminal_id).over(partition_by=_LEDGER.card_id, order_by=order).label("before_terminal"),
            func.lag(_LEDGER.transaction_at).over(partition_by=_LEDGER.card_id, order_by=order).label("before_at"),
        )
        .where(*_stamps_since(ctx, since - timedelta(minutes=cooldown)))
        .subquery()
    )
    gap = _milliseconds_between(ctx, stamps.c.before_at, stamps.c.transaction_at)
    rows = await ctx.session.execute(
        select(stamps.c.card_id, stamps.c.id, stamps.c.before_id, stamps.c.terminal_id, stamps.c.before_terminal)
        .where(
            stamps.c.transaction_at >= since,
            stamps.c.terminal_id.is_not(None),
            stamps.c.before_terminal.is_not(None),
            stamps.c.terminal_id != stamps.c.before_terminal,
            gap < cooldown * 60_000,
        )
        .order_by(stamps.c.card_id)
        .limit(MAX_LISTED * MAX_LINKED)
    )
    pairs: dict[int, list[tuple[int, int, int, int]]] = defaultdict(list)
    for card_id, entry_id, before_id, terminal_id, before_terminal in rows:
        pairs[card_id].append((entry_id, before_id, terminal_id, before_terminal))
    refused: dict[int, int] = defaultdict(int)
    for card_id, entry_id, stamp_terminal, refusing_terminal in await _refused_after_another(ctx, cooldown, since):
        refused[card_id] += 1
        pairs[card_id].append((entry_id, entry_id, refusing_terminal, stamp_terminal))
    listed = sorted(pairs, key=lambda card_id: (-len(pairs[card_id]), card_id))[:MAX_LISTED]
    numbers = await transactions.card_numbers(ctx, listed)
    names = await _terminal_names(ctx, {t for card_id in listed for p in pairs[card_id] for t in p[2:]})
    found = []
    for card_id in listed:
        terminals = sorted({t for pair in pairs[card_id] for t in pair[2:]})
        found.append(
            TwoTerminalCard(
                card_id=card_id,
                card_number=numbers[card_id],
                cooldown_minutes=cooldown,
                times=len(pairs[card_id]) - refused[card_id],
                refused=refused[card_id],
                terminal_ids=tuple(terminals),
                terminal_names=tuple(names.get(t, str(t)) for t in terminals),
                entry_ids=_newest({entry for pair in pairs[card_id] for entry in pair[:2]}),
            )
        )
    return found


async def _refused_after_another(ctx: Context, cooldown: int, since: datetime) -> Sequence[Any]:
    """(card id, stamp entry id, its terminal, the refusing terminal) for each cooldown refusal at a paired
    terminal since `since` whose card was stamped at another terminal less than `cooldown` minutes before."""
    refusal = CooldownRefusal
    gap = _milliseconds_between(ctx, _LEDGER.transaction_at, refusal.refused_at)
    rows = await ctx.session.execute(
        select(refusal.card_id, _LEDGER.id, _LEDGER.terminal_id, refusal.terminal_id)
        .join(_LEDGER, _LEDGER.card_id == refusal.card_id)
        .where(
            refusal.vendor_id == ctx.vendor_id,
            refusal.refused_at >= since,
            *_stamps_since(ctx, since - timedelta(minutes=cooldown)),
            _LEDGER.terminal_id.is_not(None),
            _LEDGER.terminal_id != refusal.terminal_id,
            _LEDGER.transaction_at <= refusal.refused_at,
            gap < cooldown * 60_000,
        )
        .limit(MAX_LISTED * MAX_LINKED)
    )
    return rows.all()


def _milliseconds_between(ctx: Context, earlier: Any, later: Any) -> ColumnElement[Any]:
    """`later - earlier` in whole milliseconds, in SQL: PostgreSQL subtracts timestamps exactly; SQLite keeps
    them as text, which julianday() reads as days in a float, exact to about 50 µs near today's dates (so
    300 s may come out as 299.99999 s: rounded to the millisecond it is 300 000 again)."""
    if is_postgres(ctx.session):
        return func.round(func.extract("epoch", later - earlier) * 1000)
    return func.round((func.julianday(later) - func.julianday(earlier)) * 86_400_000)


async def _terminal_names(ctx: Context, terminal_ids: Collection[int]) -> dict[int, str]:
    if not terminal_ids:
        return {}
    rows = await ctx.session.execute(
        select(Terminal.id, Terminal.name).where(Terminal.vendor_id == ctx.vendor_id, Terminal.id.in_(terminal_ids))
    )
    return {row_id: name for row_id, name in rows}


# --- 3. staff share ----------------------------------------------------------------------------------


async def _staff_shares(ctx: Context, since: datetime) -> list[StaffShare]:
    counts = await _counts_per_staff(ctx, since)
    totals = [sum(column) for column in zip(*counts.values(), strict=True)] if counts else [0, 0, 0]
    earned_total = totals[0]
    flagged: list[tuple[int, Kind, int, int, int]] = []  # pin id, what, count, total, earned
    for pin_id, (earned, *others) in counts.items():
        if pin_id is None:  # entries without a PIN: in the totals, but nobody to name
            continue
        for what, count, total in zip(_KINDS, others, totals[1:], strict=True):
            # count / total ≥ SHARE_FACTOR × earned / earned_total, in whole numbers
            if count >= SHARE_MIN_ENTRIES and count * earned_total >= SHARE_FACTOR * earned * total:
                flagged.append((pin_id, what, count, total, earned))
    flagged = sorted(flagged, key=lambda row: (-row[2], row[0], row[1]))[:MAX_LISTED]
    names = await _staff_names(ctx, {row[0] for row in flagged})
    return [
        StaffShare(
            staff_pin_id=pin_id,
            staff_name=names.get(pin_id, str(pin_id)),
            what=what,
            count=count,
            total=total,
            share_percent=100 * count // total,
            earning_percent=100 * earned // earned_total if earned_total else 0,
            entry_ids=await _entries_of(ctx, pin_id, _KINDS[what], since),
        )
        for pin_id, what, count, total, earned in flagged
    ]


async def _counts_per_staff(ctx: Context, since: datetime) -> dict[int | None, tuple[int, int, int]]:
    """Each staff PIN's earning entries, redemptions and voids since `since` (None: entries without a
    PIN), one aggregate over the window."""

    def counted(types: Sequence[TransactionType]) -> ColumnElement[Any]:
        return func.coalesce(func.sum(case((_LEDGER.transaction_type.in_(types), 1), else_=0)), 0)

    rows = await ctx.session.execute(
        select(_LEDGER.staff_pin_id, counted(EARNING), *[counted(types) for types in _KINDS.values()])
        .where(_LEDGER.vendor_id == ctx.vendor_id, _LEDGER.transaction_at >= since)
        .group_by(_LEDGER.staff_pin_id)
    )
    return {pin_id: (int(earned), int(redeemed), int(voided)) for pin_id, earned, redeemed, voided in rows}


async def _staff_names(ctx: Context, pin_ids: Collection[int]) -> dict[int, str]:
    if not pin_ids:
        return {}
    rows = await ctx.session.execute(
        select(StaffPin.id, StaffPin.name).where(StaffPin.vendor_id == ctx.vendor_id, StaffPin.id.in_(pin_ids))
    )
    return {row_id: name for row_id, name in rows}


async def _entries_of(ctx: Context, pin_id: int, types: Sequence[TransactionType], since: datetime) -> tuple[int, ...]:
    ids = await ctx.session.scalars(
        select(_LEDGER.id)
        .where(
            _LEDGER.vendor_id == ctx.vendor_id,
            _LEDGER.staff_pin_id == pin_id,
            _LEDGER.transaction_type.in_(types),
            _LEDGER.transaction_at >= since,
        )
        .order_by(*_NEWEST_FIRST)
        .limit(MAX_LINKED)
    )
    return tuple(ids)


# --- 4. PIN failures ---------------------------------------------------------------------------------


async def _pin_failures(ctx: Context, program: LoyaltyProgram, since: datetime, now: datetime) -> list[PinFailures]:
    enough = min(PIN_FAILURES, ctx.settings.pin_max_attempts)
    found = []
    for count in await pins.terminal_counts(ctx, program):  # one row per device with wrong PINs: a few
        guard = count.guard
        if guard.failed_attempts < enough or guard.failures_since is None or guard.failures_since < since:
            continue
        found.append(
            PinFailures(
                name=count.terminal_name or count.api_key_name or guard.terminal.removeprefix("ip:"),
                failed_attempts=guard.failed_attempts,
                since=guard.failures_since,
                locked_until=guard.locked_until if guard.locked_until and guard.locked_until > now else None,
                terminal_id=count.terminal_id,
                api_key_id=count.api_key_id,
            )
        )
    found.sort(key=lambda failures: (-failures.failed_attempts, failures.name))
    return found[:MAX_LISTED]
