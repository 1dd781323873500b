"""Phase 1's fixed reference: a minimal stamp transaction written here, once, never derived from the service.

R is the service's HTTP stamp rate divided by what PostgreSQL does with this transaction at the same
concurrency, on the same cards, in the same run (issue 19). The own-SQL ceiling (statements.py,
sql_ceiling.py) divides by the service's own statements instead, so a heavier service transaction lowered
its own ceiling and raised its own ratio; against a fixed reference, extra SQL lowers R, as it should. Both
are reported: the reference's ratio is R, the own-SQL one shows how much of the gap is SQL.

The transaction is what any stamp must do, and nothing more: lock the card row, count its stamps of today,
update the card, insert one ledger row. No PIN, no idempotency record, no outbox row, no totals.
"""

from __future__ import annotations

from bench.seed import Group

STAMP_EARNED = "stamp_earned"  # the ledger's value (models/transaction.py), written here on purpose: fixed SQL


# One statement a line: pgbench's commands; `\gset` keeps the locked card's columns as :variables.
STATEMENTS = (
    "BEGIN;",
    "SELECT vendor_id, program_id, stamp_count, points_balance FROM loyalty_cards"
    " WHERE id = :card_id FOR UPDATE \\gset",
    "SELECT count(*) FROM loyalty_transactions WHERE card_id = :card_id"
    f" AND transaction_type = '{STAMP_EARNED}' AND transaction_at >= date_trunc('day', now());",
    "UPDATE loyalty_cards SET stamp_count = stamp_count + 1, total_stamps_earned = total_stamps_earned + 1,"
    " last_stamp_at = now(), updated_at = now() WHERE id = :card_id;",
    "INSERT INTO loyalty_transactions (vendor_id, program_id, card_id, transaction_type, stamps_delta, points_delta,"
    " stamps_balance_after, points_balance_after, transaction_at)"
    f" VALUES (:vendor_id, :program_id, :card_id, '{STAMP_EARNED}', 1, 0, :stamp_count + 1, :points_balance, now());",
    "COMMIT;",
)


def pgbench_script(group: Group) -> str:
    """The reference as a pgbench script over every card of `group` (a random card per transaction)."""
    draw = [f"\\set i random(0, {group.cards - 1})", f"\\set card_id {group.first_card} + :i"]
    return "\n".join([*draw, *STATEMENTS]) + "\n"
