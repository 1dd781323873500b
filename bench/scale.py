"""Phase 5: reads at scale. 1,000,000 cards over 1,000 vendors and 10,000,000 ledger rows (the
quick run: a tenth), generated with SQL (cards.py), vacuumed and analysed as autovacuum would leave
them, then each read timed over HTTP, one request at a time, on a vendor in the middle of the range."""

from __future__ import annotations

import random
import statistics
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import cards
from bench.common import log, psql, rebuild_totals, timed

PREFIX = "bench-scale"
VENDOR = "/api/v1/vendor/loyalty"


def generate(vendors: int, cards_per_vendor: int) -> tuple[int, int]:
    with timed(f"scale data: {vendors * cards_per_vendor:,} cards over {vendors:,} vendors, ~10 ledger rows each"):
        first, last = cards.generate_scale(PREFIX, vendors, cards_per_vendor)
    with timed("vendors' running totals"):
        rebuild_totals()
    with timed("VACUUM ANALYZE"):
        psql("VACUUM ANALYZE")
    return first, last


def vendor_key(vendor_id: int) -> str:
    """A key for one scale vendor, made the way the service stores keys (sha256 of the secret)."""
    secret = f"lyk_live_bench_scale_{vendor_id}_{cards.SALT}"
    key_hash = f"encode(sha256('{secret}'::bytea), 'hex')"
    psql(f"""INSERT INTO api_keys (vendor_id, scope, name, key_prefix, key_hash, created_at)
             VALUES ({vendor_id}, 'owner', 'bench reads', '{secret[:14]}', {key_hash}, now())""")
    return secret


def _get(base: str, path: str, key: str, accept: str = "application/json") -> float:
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {key}", "Accept": accept})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as answer:
        answer.read()
        if answer.status != 200:
            raise RuntimeError(f"GET {path}: {answer.status}")
    return (time.perf_counter() - started) * 1000


def time_reads(base: str, vendor_id: int, admin_key: str, repetitions: int) -> dict[str, dict[str, Any]]:
    key = vendor_key(vendor_id)
    rows = psql(f"SELECT id, card_number, qr_code FROM loyalty_cards WHERE vendor_id = {vendor_id}").splitlines()
    sample = [row.split("|") for row in random.sample(rows, min(len(rows), repetitions))]
    month_end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=30)
    month = urllib.parse.urlencode(
        {"since": (month_end - timedelta(days=30)).isoformat(), "until": month_end.isoformat()}
    )
    csv_rows = psql(f"""SELECT count(*) FROM loyalty_transactions WHERE vendor_id = {vendor_id}
                        AND transaction_at >= '{month_end - timedelta(days=30)}' AND transaction_at < '{month_end}'""")
    reads: dict[str, Callable[[Any], float]] = {
        "vendor stats": lambda _: _get(base, f"{VENDOR}/stats", key),
        "admin platform stats": lambda _: _get(base, "/api/v1/admin/loyalty/stats", admin_key),
        "card lookup by number": lambda c: _get(base, f"{VENDOR}/cards/lookup?card_number={c[1]}", key),
        "card lookup by QR": lambda c: _get(base, f"{VENDOR}/cards/lookup?qr_code={c[2]}", key),
        "card transactions page": lambda c: _get(base, f"{VENDOR}/cards/{c[0]}/transactions", key),
        f"monthly CSV export ({csv_rows} rows)": lambda _: _get(
            base, f"{VENDOR}/transactions?{month}", key, "text/csv"
        ),
    }
    figures = {}
    for name, read in reads.items():
        read(sample[0])  # warm-up: plans, pools, caches
        times = sorted(read(card) for card in (sample * repetitions)[:repetitions])
        figures[name] = {"median": statistics.median(times), "p95": times[int(0.95 * (len(times) - 1))]}
        log(f"{name}: median {figures[name]['median']:.1f} ms, p95 {figures[name]['p95']:.1f} ms")
    return figures
