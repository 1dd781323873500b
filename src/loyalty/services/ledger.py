"""The ledger: the one place a card's balance changes.

Callers hold the card row locked (`cards.lock_card`). `append` moves the balances by the entry's
deltas, appends exactly one `loyalty_transactions` row carrying the balances after it, moves the
card's pass version and queues the wallet updates, all in the caller's transaction.

The card's changes and the new entry reach the database together: on PostgreSQL as one statement
(the UPDATE runs as a data-modifying CTE of the INSERT), so a stamp costs one round trip less;
on SQLite, which has no such CTE, as two.
"""

from __future__ import annotations

from functools import cache
from typing import Any, cast

from sqlalchemy import BigInteger, Insert, Table, Update, bindparam, inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from loyalty.db import is_postgres
from loyalty.models import LoyaltyCard, LoyaltyTransaction, StaffPin, TransactionType, VendorTotals
from loyalty.models.vendor_totals import SLOTS
from loyalty.services.cards import bump_pass_version
from loyalty.services.compiled_queries import CompiledQuery
from loyalty.services.context import Context
from loyalty.services.outbox import queue_wallet_updates
from loyalty.sqlalchemy_internals import loaded

_CARDS = cast(Table, LoyaltyCard.__table__)
_LEDGER = cast(Table, LoyaltyTransaction.__table__)
_TOTALS = cast(Table, VendorTotals.__table__)


async def append(
    ctx: Context,
    card: LoyaltyCard,
    transaction_type: TransactionType,
    *,
    stamps_delta: int = 0,
    points_delta: int = 0,
    staff_pin: StaffPin | None = None,
    **fields: Any,
) -> LoyaltyTransaction:
    """The only way a balance changes: moves the locked `card` (from `cards.lock_card`) by `stamps_delta`
    stamps and `points_delta` points, writes the card's other pending changes with it, appends one ledger
    entry of `transaction_type` recording the balances after it, the approving `staff_pin`, the actor's IP
    and user agent and `fields` (other columns of the entry), moves the vendor's running totals and the
    card's pass version, and queues its wallet updates: all in the caller's transaction.

    Returns the new entry (outside the session). Raises nothing: the rules are the caller's to check, and
    the database refuses a negative balance (CHECK). Rules: docs/rules.md, "A balance change, step by step"."""
    now = ctx.clock.now()
    card.stamp_count += stamps_delta
    card.points_balance += points_delta
    bump_pass_version(card, now)
    actor = ctx.actor
    values: dict[str, Any] = {
        "vendor_id": card.vendor_id,
        "program_id": card.program_id,
        "card_id": card.id,
        "staff_pin_id": staff_pin.id if staff_pin else None,
        "transaction_type": transaction_type,
        "stamps_delta": stamps_delta,
        "points_delta": points_delta,
        "stamps_balance_after": card.stamp_count,
        "points_balance_after": card.points_balance,
        "terminal_id": actor.terminal_id if actor else None,
        "client_ip": actor.client_ip if actor else None,
        "user_agent": actor.user_agent[:500] if actor and actor.user_agent else None,
        "transaction_at": now,
        **fields,
    }
    entry_id = await _write(ctx.session, card, values)
    await queue_wallet_updates(ctx, card)
    return loaded(LoyaltyTransaction, {"id": entry_id, **values})


async def _write(session: AsyncSession, card: LoyaltyCard, entry: dict[str, Any]) -> int:
    """Writes the card's pending changes, moves the vendor's running totals by the same amounts and
    inserts the entry; returns the entry's id."""
    changes = _pending_changes(card)
    columns = tuple(sorted(changes))
    # Parameter names never equal a column name: Core would add such a column to the UPDATE's SET.
    params = {
        **{f"card_{key}": value for key, value in changes.items()},
        "card_key": card.id,
        **{f"entry_{key}": value for key, value in entry.items()},
        **{f"totals_{total}": delta for total, delta in _totals_deltas(card).items()},
        "totals_vendor": card.vendor_id,
        "totals_slot": card.id % SLOTS,
    }
    if is_postgres(session):
        entry_id = await _write_all(columns, tuple(entry)).scalar(session, params)
    else:
        await session.execute(_card_update(columns), params)
        await session.execute(_totals_update(), params)
        entry_id = await CompiledQuery(_entry_insert(tuple(entry))).scalar(session, params)
    for key, value in changes.items():  # written: the ORM must not flush them a second time
        set_committed_value(card, key, value)
    return int(entry_id)


_CARD_COLUMNS = tuple(inspect(LoyaltyCard).column_attrs.keys())


def _pending_changes(card: LoyaltyCard) -> dict[str, Any]:
    """The card's changed attributes and their new values: every column the ORM does not count as
    unmodified (an attribute set since it was loaded, even to the same value)."""
    state = inspect(card)
    unmodified, current = state.unmodified, state.dict
    return {key: current[key] for key in _CARD_COLUMNS if key not in unmodified}


def _totals_deltas(card: LoyaltyCard) -> dict[str, int]:
    """How much each card total the vendor's totals follow moved: new value minus committed value
    (minus 0 for a card never written, which has no committed value)."""
    state = inspect(card)
    unmodified, attributes = state.unmodified, state.attrs
    deltas = {}
    for card_total, vendor_total in VendorTotals.FOLLOWS.items():
        if card_total in unmodified:
            deltas[vendor_total] = 0
            continue
        # `added`: the new value, empty when it was set to its committed value; `deleted`: the committed
        # value, empty for a card never written.
        added, _, deleted = attributes[card_total].history
        deltas[vendor_total] = added[0] - (deleted[0] if deleted else 0) if added else 0
    return deltas


# The statements are built once per shape (which card columns change, which entry fields are set) and
# then executed with bound parameters: building SQL expressions on every request costs more CPU
# than the database spends running them.


@cache
def _card_update(columns: tuple[str, ...]) -> Update:
    values = {column: bindparam(f"card_{column}", type_=_CARDS.c[column].type) for column in columns}
    return _CARDS.update().where(_CARDS.c.id == bindparam("card_key")).values(values)


@cache
def _entry_insert(fields: tuple[str, ...]) -> Insert:
    values = {field: bindparam(f"entry_{field}", type_=_LEDGER.c[field].type) for field in fields}
    return _LEDGER.insert().values(values).returning(_LEDGER.c.id)


@cache
def _totals_update() -> Update:
    totals = _TOTALS
    moved = {
        total: totals.c[total] + bindparam(f"totals_{total}", type_=BigInteger())
        for total in VendorTotals.FOLLOWS.values()
    }
    return (
        totals.update()
        .where(totals.c.vendor_id == bindparam("totals_vendor"), totals.c.slot == bindparam("totals_slot"))
        .values(entries=totals.c.entries + 1, **moved)
    )


@cache
def _write_all(columns: tuple[str, ...], fields: tuple[str, ...]) -> CompiledQuery:
    """PostgreSQL: the card, the vendor's totals and the entry in one statement (two data-modifying CTEs)."""
    return CompiledQuery(
        _entry_insert(fields)
        .add_cte(_card_update(columns).cte("card_update"))
        .add_cte(_totals_update().cte("totals_update"))
    )
