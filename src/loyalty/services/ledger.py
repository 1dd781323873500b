"""The ledger: the one place a card's balance changes.

Callers hold the card row locked (`cards.lock_card`). `append` moves the balances by the entry's
deltas, appends exactly one `loyalty_transactions` row carrying the balances after it, moves the
card's pass version and queues the wallet updates, all in the caller's transaction.

The card's changes, the vendor's totals, the new entry and the card's outbox rows reach the database
together: on PostgreSQL as one statement (the UPDATEs and the outbox's upsert run as data-modifying
CTEs of the INSERT), so a balance change costs one round trip; on SQLite, which has no such CTE, four.

`append_if` goes one step further for the counter's hottest change, the stamp: the card's rules are
checked by the UPDATE's own WHERE on the row it locks, and the card, totals, entry and outbox rows are
written by the same statement, so the card is neither locked nor read in a round trip of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    BindParameter,
    ColumnElement,
    Insert,
    Integer,
    Interval,
    Table,
    Update,
    bindparam,
    func,
    inspect,
    literal,
    select,
    true,
)
from sqlalchemy.orm.attributes import set_committed_value

from loyalty.db import is_postgres
from loyalty.models import LoyaltyCard, LoyaltyTransaction, StaffPin, TransactionType, VendorTotals
from loyalty.models.vendor_totals import SLOTS
from loyalty.services import outbox
from loyalty.services.cards import CardRef, bump_pass_version, card_key, pass_version_after
from loyalty.services.compiled_queries import CompiledQuery
from loyalty.services.context import Context
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
    values = _entry(
        ctx,
        now,
        staff_pin,
        vendor_id=card.vendor_id,
        program_id=card.program_id,
        card_id=card.id,
        transaction_type=transaction_type,
        stamps_delta=stamps_delta,
        points_delta=points_delta,
        stamps_balance_after=card.stamp_count,
        points_balance_after=card.points_balance,
        **fields,
    )
    entry_id = await _write(ctx, card, values)
    return loaded(LoyaltyTransaction, {"id": entry_id, **values})


def _entry(ctx: Context, now: datetime, staff_pin: StaffPin | None, **columns: Any) -> dict[str, Any]:
    """A ledger entry's values: `columns`, the approving staff PIN, who acted (terminal, IP, user agent) and when."""
    actor = ctx.actor
    return {
        "staff_pin_id": staff_pin.id if staff_pin else None,
        "terminal_id": actor.terminal_id if actor else None,
        "client_ip": actor.client_ip if actor else None,
        "user_agent": actor.user_agent[:500] if actor and actor.user_agent else None,
        "transaction_at": now,
        **columns,
    }


@dataclass(frozen=True, eq=False)  # hashed by identity: a rule is a module's constant, its statements cached
class CardRule:
    """A balance change with its rules, as SQL on the card's row (for `append_if`): `allowed`, the
    conditions the row must meet; `changes`, column → new value (SQL on the old row); `totals`, how much
    each of the vendor's running totals moves (VendorTotals.FOLLOWS). Their bound parameters are the
    caller's (`params` of `append_if`)."""

    allowed: tuple[ColumnElement[bool], ...]
    changes: Mapping[str, Any]
    totals: Mapping[str, int]


async def append_if(
    ctx: Context,
    rule: CardRule,
    params: Mapping[str, Any],
    ref: CardRef,
    program_id: int,
    transaction_type: TransactionType,
    *,
    stamps_delta: int = 0,
    staff_pin: StaffPin | None = None,
    **fields: Any,
) -> tuple[LoyaltyTransaction, LoyaltyCard] | None:
    """`append` decided by the database, in one statement: when the vendor's active card named by `ref`,
    in programme `program_id`, meets `rule.allowed`, moves it by `stamps_delta` stamps and `rule.changes`,
    and writes the entry (of `transaction_type`, approved by `staff_pin`, with `fields`), the vendor's
    totals, the pass version and the outbox rows, as `append` does, in the caller's transaction.

    Returns the new entry and the card after it; None on SQLite, or when no such card meets the rule
    (unknown, another vendor's or programme's, inactive, or refused by a rule). Raises nothing: a refusal
    is None, and the caller then locks the card and checks the rules itself (`cards.lock_card`, `append`),
    which names the refusal: this path never accepts what that one would refuse. Same guarantees under
    concurrency: the UPDATE waits for a
    concurrent writer's lock on the row and evaluates `allowed` again on the row that writer left
    (PostgreSQL's READ COMMITTED re-check of an UPDATE's WHERE).

    When the unit of work has sent nothing before it (no PIN to check, no Idempotency-Key), the statement
    is sent alone, outside a transaction block (`CompiledQuery.first`'s `alone`): it commits by itself,
    and nothing may be written after it in the unit."""
    session = ctx.session
    if not is_postgres(session):
        return None
    now = ctx.clock.now()
    column, key = card_key(ref)
    entry = _entry(
        ctx,
        now,
        staff_pin,
        vendor_id=ctx.vendor_id,
        program_id=program_id,
        transaction_type=transaction_type,
        stamps_delta=stamps_delta,
        points_delta=0,
        **fields,
    )
    providers = tuple(ctx.settings.wallet_provider_list)
    statement = _append_if(rule, column, tuple(entry), providers)
    row = await statement.first(
        session,
        {
            **params,
            "card_ref": key,
            "card_vendor": ctx.vendor_id,
            "card_program": program_id,
            "card_stamps_delta": stamps_delta,
            "card_version": pass_version_after(None, now),
            **{f"entry_{name}": value for name, value in entry.items()},
            **{f"totals_{total}": rule.totals.get(total, 0) for total in VendorTotals.FOLLOWS.values()},
            "totals_vendor": ctx.vendor_id,
            **outbox.card_rows_params(ctx),
        },
        alone=True,
    )
    if row is None:
        return None
    card = loaded(LoyaltyCard, {key: row[key] for key in _CARD_COLUMNS})
    written = {
        **entry,
        "id": row["entry_id"],
        "card_id": card.id,
        "stamps_balance_after": card.stamp_count,
        "points_balance_after": card.points_balance,
    }
    return loaded(LoyaltyTransaction, written), card


@cache
def _append_if(rule: CardRule, column: str, fields: tuple[str, ...], providers: tuple[str, ...]) -> CompiledQuery:
    cards = _CARDS
    card_update = (
        cards.update()
        .where(
            cards.c[column] == bindparam("card_ref", type_=cards.c[column].type),
            cards.c.vendor_id == bindparam("card_vendor", type_=BigInteger()),
            cards.c.program_id == bindparam("card_program", type_=BigInteger()),
            cards.c.is_active.is_(True),
            *rule.allowed,
        )
        .values(
            stamp_count=cards.c.stamp_count + bindparam("card_stamps_delta", type_=BigInteger()),
            # the pass version moves forward by at least a second (cards.pass_version_after)
            updated_at=func.greatest(
                bindparam("card_version", type_=cards.c.updated_at.type),
                cards.c.updated_at + literal(timedelta(seconds=1), Interval()),
            ),
            **rule.changes,
        )
        .returning(*cards.c)
        .cte("card_update")
    )
    after = {
        "card_id": card_update.c.id,
        "stamps_balance_after": card_update.c.stamp_count,
        "points_balance_after": card_update.c.points_balance,
    }
    names = [*fields, *after]
    entry_values = [
        after[name] if name in after else bindparam(f"entry_{name}", type_=_LEDGER.c[name].type) for name in names
    ]
    entry = (
        _LEDGER.insert()
        .from_select(names, select(*entry_values).select_from(card_update))
        .returning(_LEDGER.c.id)
        .cte("entry")
    )
    slot = select(card_update.c.id % SLOTS).scalar_subquery()
    statement = (
        select(card_update, entry.c.id.label("entry_id"))
        .select_from(card_update.join(entry, true()))
        .add_cte(_totals_update(slot).cte("totals_update"))
    )
    if providers:
        statement = statement.add_cte(outbox.card_rows_upsert(card_update, providers).cte("outbox_upsert"))
    return CompiledQuery(statement)


async def _write(ctx: Context, card: LoyaltyCard, entry: dict[str, Any]) -> int:
    """Writes the card's pending changes, moves the vendor's running totals by the same amounts, inserts
    the entry and queues the card's wallet updates; returns the entry's id.

    The card row is locked already (`cards.lock_card`), so the outbox rows are still taken after it, the
    order every writer keeps (`cards.pass_changed`)."""
    session = ctx.session
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
        providers = tuple(ctx.settings.wallet_provider_list)
        params |= outbox.card_rows_params(ctx)
        entry_id = await _write_all(columns, tuple(entry), providers).scalar(session, params)
    else:
        await session.execute(_card_update(columns), params)
        await session.execute(_totals_update(), params)
        entry_id = await CompiledQuery(_entry_insert(tuple(entry))).scalar(session, params)
        await outbox.queue_wallet_updates(ctx, card)
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


_BOUND_SLOT: BindParameter[int] = bindparam("totals_slot", type_=Integer())


@cache
def _totals_update(slot: Any = _BOUND_SLOT) -> Update:
    """The vendor's totals row `slot` (an SQL expression: by default the bound `totals_slot`) moved by
    the bound deltas."""
    totals = _TOTALS
    moved = {
        total: totals.c[total] + bindparam(f"totals_{total}", type_=BigInteger())
        for total in VendorTotals.FOLLOWS.values()
    }
    return (
        totals.update()
        .where(totals.c.vendor_id == bindparam("totals_vendor"), totals.c.slot == slot)
        .values(entries=totals.c.entries + 1, **moved)
    )


@cache
def _write_all(columns: tuple[str, ...], fields: tuple[str, ...], providers: tuple[str, ...]) -> CompiledQuery:
    """PostgreSQL: the card, the vendor's totals, the entry and the card's outbox rows (one per wallet in
    `providers`, none without) in one statement (data-modifying CTEs)."""
    card_update = (
        _card_update(columns).returning(_CARDS.c.id, _CARDS.c.vendor_id, _CARDS.c.updated_at).cte("card_update")
    )
    statement = _entry_insert(fields).add_cte(card_update).add_cte(_totals_update().cte("totals_update"))
    if providers:
        statement = statement.add_cte(outbox.card_rows_upsert(card_update, providers).cte("outbox_upsert"))
    return CompiledQuery(statement)
