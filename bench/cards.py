"""Customers, cards and ledger rows generated with SQL (generate_series), never through the API.

Every constraint production has stays on (foreign keys, unique numbers and tokens, the ledger's
append-only trigger). Card numbers are 16 digits with a Luhn check digit, derived from the card id
through a bijection (id × a prime coprime to 9·10^14), so they are unique; QR codes and card tokens
are 192-bit URL-safe values from SHA-256 over the id and a per-run random salt, as unguessable as
the service's own. Ledger rows agree with the card balances: stamp_count = Σ stamps_delta and
points_balance = Σ points_delta for every card, and every row lies before today (so the per-day
stamp counters of the card stay at zero, as they would be).
"""

from __future__ import annotations

import dataclasses
import secrets
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bench.common import psql

if TYPE_CHECKING:
    from bench.seed import Group

SALT = secrets.token_hex(16)
# Every generated instant lies before this one (a day ago, fixed once per run).
ANCHOR = (datetime.now(UTC) - timedelta(days=1)).isoformat()

FUNCTIONS = f"""
CREATE FUNCTION pg_temp.card_number(n bigint) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT body || ((10 - (SELECT sum(CASE WHEN p % 2 = 1 THEN d
                                        WHEN d > 4 THEN d * 2 - 9 ELSE d * 2 END)
                         FROM (SELECT p, substr(body, 15 - p, 1)::int AS d FROM generate_series(0, 14) p) x)
          % 10) % 10)::text
  FROM (SELECT (100000000000000 + (n * 982451653) % 900000000000000)::text AS body) b
$$;
CREATE FUNCTION pg_temp.token(kind text, n bigint) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT translate(encode(substr(sha256(convert_to('{SALT}:' || kind || ':' || n, 'UTF8')), 1, 24), 'base64'),
                   '+/', '-_')
$$;
-- ledger rows of a card: 5..15 (10 on average), every third one a points purchase
CREATE FUNCTION pg_temp.entries(card_id bigint) RETURNS int LANGUAGE sql IMMUTABLE AS $$
  SELECT (5 + card_id % 11)::int
$$;
"""


def _customers(vendor_filter: str, per_vendor: int) -> str:
    return f"""
INSERT INTO customers (vendor_id, email, email_normalised, name, marketing_consent, created_at)
SELECT v.id, 'customer' || g || '.v' || v.id || '@bench.example', 'customer' || g || '.v' || v.id || '@bench.example',
       'Customer ' || g, false, '{ANCHOR}'::timestamptz - interval '400 days'
FROM vendors v CROSS JOIN generate_series(1, {per_vendor}) g
WHERE {vendor_filter}
ORDER BY v.id, g;
"""


def _cards(vendor_filter: str, with_history: bool) -> str:
    # n entries: stamps = n - n/3, points = 25 · (n/3); the last stamp is entry n, or n-1 when 3 | n.
    history = f"""
       s.n - s.n / 3, s.n - s.n / 3, 0, 25 * (s.n / 3), 25 * (s.n / 3),
       s.enrolled + ('{ANCHOR}'::timestamptz - s.enrolled) * (s.n - CASE WHEN s.n % 3 = 0 THEN 1 ELSE 0 END) / s.n,
    """
    fresh = "0, 0, 0, 0, 0, NULL,"
    return f"""
INSERT INTO loyalty_cards (id, vendor_id, program_id, customer_id, card_number, qr_code, card_token,
    stamp_count, total_stamps_earned, stamps_redeemed, points_balance, total_points_earned,
    last_stamp_at, total_points_redeemed, is_active, enrolled_at, updated_at,
    pass_serial_number, pass_authentication_token)
SELECT s.id, s.vendor_id, s.program_id, s.customer_id, pg_temp.card_number(s.id), pg_temp.token('qr', s.id),
       pg_temp.token('card', s.id),
       {history if with_history else fresh}
       0, true, s.enrolled, '{ANCHOR}'::timestamptz,
       pg_temp.token('serial', s.id), pg_temp.token('pass', s.id)
FROM (
  SELECT s0.*, pg_temp.entries(s0.id) AS n FROM (
    SELECT nextval('loyalty_cards_id_seq') AS id, c.vendor_id, p.id AS program_id, c.id AS customer_id,
           '{ANCHOR}'::timestamptz - interval '1 day' * (30 + c.id % 365) AS enrolled
    FROM (SELECT * FROM customers c WHERE {vendor_filter.replace("v.id", "c.vendor_id")} ORDER BY c.id) c
    JOIN loyalty_programs p ON p.vendor_id = c.vendor_id
    ORDER BY c.id
  ) s0
) s;
"""


def generate_load_cards(group: Group, per_vendor: int) -> Group:
    """Fresh cards (no history) for the load phases; returns the group with its card range."""
    last_vendor = group.first_vendor + len(group.keys) - 1
    where = f"v.id BETWEEN {group.first_vendor} AND {last_vendor}"
    psql(FUNCTIONS + _customers(where, per_vendor) + _cards(where, with_history=False))
    first = int(
        psql(f"SELECT min(id) FROM loyalty_cards WHERE vendor_id BETWEEN {group.first_vendor} AND {last_vendor}")
    )
    group = dataclasses.replace(group, first_card=first, per_vendor=per_vendor)
    _check_layout(group)
    return group


def _check_layout(group: Group) -> None:
    bad = psql(f"""
SELECT count(*) FROM loyalty_cards
WHERE id BETWEEN {group.first_card} AND {group.first_card + group.cards - 1}
  AND (vendor_id <> {group.first_vendor} + (id - {group.first_card}) / {group.per_vendor}
       OR program_id <> {group.first_program} + (id - {group.first_card}) / {group.per_vendor})""")
    last_card = group.first_card + group.cards - 1
    count = psql(f"SELECT count(*) FROM loyalty_cards WHERE id BETWEEN {group.first_card} AND {last_card}")
    if bad != "0" or int(count) != group.cards:
        raise RuntimeError(
            f"cards of {group.name} are not laid out as pgbench assumes ({bad} misplaced, {count} cards)"
        )


def generate_scale(prefix: str, vendors: int, cards_per_vendor: int, workers: int = 2) -> tuple[int, int]:
    """`vendors` hybrid programmes with `cards_per_vendor` cards each and ~10 ledger rows per card;
    the ledger is written by `workers` sessions in parallel over disjoint card ranges."""
    psql(f"""
INSERT INTO vendors (name, slug, timezone, default_locale, created_at)
SELECT 'Scale vendor ' || g, '{prefix}-' || g, 'Europe/Luxembourg', 'en', '{ANCHOR}'::timestamptz - interval '400 days'
FROM generate_series(1, {vendors}) g ORDER BY g;
INSERT INTO loyalty_programs (vendor_id, program_type, name, stamps_target, points_per_euro, points_rewards,
    cooldown_minutes, max_daily_stamps, require_staff_pin, is_active, created_at, updated_at)
SELECT id, 'hybrid', 'Scale card', 10, 1, '[]', 15, 5, true, true, created_at, created_at
FROM vendors WHERE slug LIKE '{prefix}-%' ORDER BY id;
""")
    first, last = map(int, psql(f"SELECT min(id), max(id) FROM vendors WHERE slug LIKE '{prefix}-%'").split("|"))
    where = f"v.id BETWEEN {first} AND {last}"
    psql(FUNCTIONS + _customers(where, cards_per_vendor) + _cards(where, with_history=True))
    lo, hi = map(
        int, psql(f"SELECT min(id), max(id) FROM loyalty_cards WHERE vendor_id BETWEEN {first} AND {last}").split("|")
    )
    step = (hi - lo + workers) // workers
    ranges = [(start, min(start + step - 1, hi)) for start in range(lo, hi + 1, step)]
    with ThreadPoolExecutor(len(ranges)) as pool:
        list(pool.map(lambda r: psql(FUNCTIONS + _ledger(*r)), ranges))
    return first, last


def _ledger(lo: int, hi: int) -> str:
    return f"""
INSERT INTO loyalty_transactions (vendor_id, program_id, card_id, transaction_type, stamps_delta, points_delta,
    stamps_balance_after, points_balance_after, purchase_amount_cents, client_ip, user_agent, transaction_at)
SELECT c.vendor_id, c.program_id, c.id,
       CASE WHEN j % 3 = 0 THEN 'points_earned' ELSE 'stamp_earned' END,
       CASE WHEN j % 3 = 0 THEN 0 ELSE 1 END,
       CASE WHEN j % 3 = 0 THEN 25 ELSE 0 END,
       j - j / 3, 25 * (j / 3),
       CASE WHEN j % 3 = 0 THEN 2500 END,
       '192.0.2.1', 'bench-generator',
       c.enrolled_at + ('{ANCHOR}'::timestamptz - c.enrolled_at) * j / pg_temp.entries(c.id)
FROM loyalty_cards c CROSS JOIN LATERAL generate_series(1, pg_temp.entries(c.id)) j
WHERE c.id BETWEEN {lo} AND {hi}
ORDER BY c.id, j;
"""
