"""`bench/run`: the performance harness of the issue, end to end, on one machine.

1. the fixed reference transaction and the service's own SQL  2. HTTP stamp rate  3. latency at half load
4. stamps with a PIN  5. reads at scale. The last line printed is `stamp_http_vs_reference_ratio=R`, R the HTTP
stamp rate over the reference's rate (bench/reference.py). See docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import http_load, pin, profile, reference, scale, seed, sql_ceiling, statements
from bench.common import (
    DB_NAME,
    PG_ADMIN_URL,
    CpuMeter,
    Options,
    Results,
    Server,
    busy_cpu_percent,
    log,
    psql,
    rss_mb,
    settle_database,
    timed,
)

# Measured on the 2-core reference machine with --sweep-workers 2,3,4 (docs/performance.md):
# 2 workers gave the highest stamp rate and the lowest p99; more workers only add context switches
# on two cores already shared with PostgreSQL and the load generator.
RECOMMENDED_WORKERS = 2
CONNECTIONS = 32
# Phase 3 paces the arrivals, so its connections only bound how many requests can be in flight. They
# must outnumber rate × the longest stall: PostgreSQL's COMMIT (the WAL flush) stalls 50-150 ms now and
# then on the reference machine's disk, and 32 connections at ~600 stamps/s ran out during such a
# stall, turning the paced run into a closed loop (late sends). 128 leave room for a ~200 ms stall.
PACED_CONNECTIONS = 128
STAMP_VENDORS, STAMP_CARDS_PER_VENDOR = 10, 1_000  # 10,000 cards for phases 1-3
PIN_VENDORS, PIN_CARDS_PER_VENDOR = 4, 250
# Phases 1 and 2 alternate this many times in a full run (once in a quick one), and R is the median of
# the rounds' ratios: the ceiling alone moved by ±12 % between identical runs on the reference machine,
# and a ceiling and an HTTP rate measured minutes apart carried that drift into R.
FULL_RUN_ROUNDS = 3
SCALE_CARDS_PER_VENDOR = 1_000


def options(argv: list[str]) -> tuple[Options, list[int], bool]:
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short phases and a tenth of the scale data (< 2 min)")
    parser.add_argument("--workers", type=int, default=RECOMMENDED_WORKERS, help="uvicorn workers")
    parser.add_argument("--connections", type=int, default=CONNECTIONS, help="wrk connections = pgbench clients")
    parser.add_argument("--duration", type=int, help="seconds per load phase (default 8 quick, 30 full)")
    parser.add_argument(
        "--sweep-workers", default="", help="also measure the peak with these worker counts, e.g. 2,3,4"
    )
    parser.add_argument(
        "--rounds", type=int, help=f"alternations of phases 1 and 2 (default 1 quick, {FULL_RUN_ROUNDS} full)"
    )
    parser.add_argument("--profile", action="store_true", help="py-spy one worker during an extra peak run")
    parser.add_argument("--keep-db", action="store_true", help=f"leave the {DB_NAME} database for inspection")
    args = parser.parse_args(argv)
    vendors = 100 if args.quick else 1_000
    work_dir = Path(tempfile.mkdtemp(prefix="loyalty-bench-"))
    opts = Options(
        quick=args.quick,
        workers=args.workers,
        connections=args.connections,
        duration=args.duration or (8 if args.quick else 30),
        rounds=args.rounds or (1 if args.quick else FULL_RUN_ROUNDS),
        scale_vendors=vendors,
        scale_cards=vendors * SCALE_CARDS_PER_VENDOR,
        scale_ledger=vendors * SCALE_CARDS_PER_VENDOR * 10,
        bcrypt_rounds=int(os.environ.get("LOYALTY_BCRYPT_ROUNDS", "12")),
        work_dir=work_dir,
        profile=args.profile,
    )
    sweep = [int(w) for w in args.sweep_workers.split(",") if w.strip()]
    return opts, sweep, args.keep_db


def main(argv: list[str]) -> int:
    opts, sweep, keep_db = options(argv)
    started = time.monotonic()
    log(f"{'QUICK' if opts.quick else 'FULL'} run; files in {opts.work_dir}")
    results = Results()
    busy = busy_cpu_percent()
    if busy > 10:
        log(f"WARNING: the CPUs were {busy:.0f}% busy before the run: other work skews every figure")
    results.add("machine CPU busy before the run (%)", f"{busy:.0f}", "idle", busy <= 10)
    try:
        with timed("database and seed"):
            seed.create_database()
            tenants = seed.seed(
                STAMP_VENDORS, STAMP_CARDS_PER_VENDOR, PIN_VENDORS, PIN_CARDS_PER_VENDOR, opts.bcrypt_rounds
            )
        with timed("1. the statements of one stamp"):
            recorded, recorded_at = statements.record_stamp(tenants.stamps, opts.work_dir)
            script = statements.pgbench_script(recorded, recorded_at, tenants.stamps)
        fixed = reference.pgbench_script(tenants.stamps)
        sweep_rows = [_sweep_one(opts, tenants.stamps, w) for w in sweep]
        results_rss: dict[int, float] = {}
        with Server(opts.workers, opts.work_dir) as server:
            rounds = [_sql_and_http(opts, server, tenants.stamps, fixed, script, n) for n in range(opts.rounds)]
            peak = _http_phases(opts, server, tenants, rounds, results_rss)
            with timed("5. scale"):
                first, last = scale.generate(opts.scale_vendors, SCALE_CARDS_PER_VENDOR)
                ledger_rows = int(
                    psql(f"SELECT count(*) FROM loyalty_transactions WHERE vendor_id BETWEEN {first} AND {last}")
                )
                reads = scale.time_reads(server.base, (first + last) // 2, tenants.admin_key, 20 if opts.quick else 50)
            for pid in server.worker_pids():
                results_rss[pid] = max(results_rss.get(pid, 0.0), rss_mb(pid))
        _report(results, opts, rounds, peak, reads, results_rss, sweep_rows, ledger_rows)
    finally:
        if not keep_db:
            psql(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)", url=PG_ADMIN_URL)
    print(results.table())
    log(f"wall time {time.monotonic() - started:.0f} s; raw outputs in {opts.work_dir}")
    print(f"stamp_http_vs_reference_ratio={results.figures['ratio']:.3f}", flush=True)
    return 0


def _sweep_one(opts: Options, group: seed.Group, workers: int) -> tuple[int, dict[str, Any]]:
    with timed(f"sweep: {workers} workers"), Server(workers, opts.work_dir) as server:
        settle_database()
        script = http_load.write_script(group, opts.work_dir / "peak.lua", threads=2)
        http_load.run_wrk(
            server.base, script, connections=opts.connections, duration=3, label="warm", out_dir=opts.work_dir
        )
        return workers, http_load.run_wrk(
            server.base,
            script,
            connections=opts.connections,
            duration=min(opts.duration, 10),
            label=f"sweep-{workers}",
            out_dir=opts.work_dir,
        )


def _sql_and_http(
    opts: Options, server: Server, group: seed.Group, fixed: str, own: str, round_index: int
) -> dict[str, Any]:
    """One round of phases 1 and 2, each from a settled database, the server idle beside pgbench: the fixed
    reference transaction's rate, the service's own statements' rate (the own-SQL ceiling), then wrk's peak.
    `ratio` is R, the peak over the reference; `sql_ratio` the peak over the own-SQL ceiling."""
    label = f" (round {round_index + 1} of {opts.rounds})" if opts.rounds > 1 else ""
    work, conns = opts.work_dir, opts.connections
    with timed(f"1. reference transaction{label}"):
        settle_database()
        fixed_rate = sql_ceiling.run_pgbench(fixed, conns, opts.duration, work, name="reference")
    with timed(f"1. own-SQL ceiling{label}"):
        settle_database()
        ceiling = sql_ceiling.run_pgbench(own, conns, opts.duration, work, name="stamp")
    with timed(f"2. HTTP stamp rate{label}"):
        settle_database()
        wrk_script = http_load.write_script(group, work / "peak.lua", threads=2)
        warm = 3 if opts.quick else 5
        http_load.run_wrk(server.base, wrk_script, connections=conns, duration=warm, label="warm", out_dir=work)
        with CpuMeter(server.worker_pids()) as cpu:
            peak = http_load.run_wrk(
                server.base,
                wrk_script,
                connections=conns,
                duration=opts.duration,
                label=f"peak-{round_index + 1}",
                out_dir=work,
            )
        stamps = peak["requests"]
        peak["cpu_us"] = {name: seconds * 1e6 / stamps for name, seconds in cpu.used.items()}
        log(
            f"HTTP: {peak['rate']:.0f} stamps/s, p50 {peak['p50_us'] / 1000:.1f} ms, "
            f"p99 {peak['p99_us'] / 1000:.1f} ms; CPU per stamp: "
            + ", ".join(f"{name} {us:.0f} µs" for name, us in peak["cpu_us"].items())
        )
    return {
        "reference": fixed_rate,
        "ceiling": ceiling,
        "peak": peak,
        "ratio": peak["rate"] / fixed_rate["tps"],
        "sql_ratio": peak["rate"] / ceiling["tps"],
    }


def _median_round(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    return sorted(rounds, key=lambda r: r["ratio"])[len(rounds) // 2]


def _http_phases(
    opts: Options, server: Server, tenants: seed.Tenants, rounds: list[dict[str, Any]], rss: dict[int, float]
) -> dict[str, Any]:
    work, conns = opts.work_dir, opts.connections
    script = http_load.write_script(tenants.stamps, work / "peak.lua", threads=2)
    peak = _median_round(rounds)["peak"]
    if opts.profile:
        with timed("profile: py-spy on one worker under the peak load"):
            raw = work / "py-spy.raw"
            seconds = min(opts.duration, 15)
            spy = profile.start(server.worker_pids()[0], seconds, raw)
            http_load.run_wrk(
                server.base, script, connections=conns, duration=seconds + 2, label="profile", out_dir=work
            )
            spy.wait()
            summary = profile.summarise(raw)
            (work / "py-spy-top.txt").write_text(summary)
            print(summary, file=sys.stderr)
    with timed("3. latency at half load"):
        settle_database()
        paced = http_load.write_script(tenants.stamps, work / "half.lua", threads=2, rate=peak["rate"] / 2)
        half = http_load.run_wrk(
            server.base, paced, connections=PACED_CONNECTIONS, duration=opts.duration, label="half", out_dir=work
        )
        log(
            f"half load: {half['rate']:.0f}/s (target {peak['rate'] / 2:.0f}), p99 {half['p99_us'] / 1000:.1f} ms, "
            f"{half['late']} late sends"
        )
    for pid in server.worker_pids():
        rss[pid] = rss_mb(pid)
    with timed("4. stamps with a PIN"):
        # Raw bcrypt first, while the server is idle (after the PIN load it still drains queued checks).
        bcrypt_rate = pin.raw_bcrypt_rate(opts.bcrypt_rounds, 5 if opts.quick else 10)
        pin_http = pin.pin_stamp_rate(
            server.base, tenants.pins, connections=conns, duration=opts.duration, work_dir=work
        )
    for pid in server.worker_pids():
        rss[pid] = max(rss[pid], rss_mb(pid))
    return {"peak": peak, "half": half, "pin": pin_http, "bcrypt": bcrypt_rate}


def _report(
    results: Results,
    opts: Options,
    rounds: list[dict[str, Any]],
    load: dict[str, Any],
    reads: dict[str, dict[str, float]],
    rss: dict[int, float],
    sweep: list[tuple[int, dict[str, Any]]],
    ledger_rows: int,
) -> None:
    peak, half, pin_http, raw = load["peak"], load["half"], load["pin"], load["bcrypt"]
    median = _median_round(rounds)
    ratio = median["ratio"]
    results.figures["ratio"] = ratio
    c = opts.connections
    each = " / ".join(f"{r['reference']['tps']:.0f} -> {r['peak']['rate']:.0f} = {r['ratio']:.3f}" for r in rounds)
    if len(rounds) > 1:
        results.add("1-2. each round: reference -> HTTP = R", each)
    results.add(f"1. reference transaction, pgbench -c {c} (stamps/s)", f"{median['reference']['tps']:.0f}")
    results.add(f"1. own-SQL ceiling, pgbench -c {c} (stamps/s)", f"{median['ceiling']['tps']:.0f}")
    results.add(f"2. HTTP stamps/s, wrk -c {c}, {opts.workers} workers", f"{peak['rate']:.0f}")
    results.add("2. HTTP stamp latency p50 / p99 (ms)", f"{peak['p50_us'] / 1000:.1f} / {peak['p99_us'] / 1000:.1f}")
    median_note = f" (median of {len(rounds)} rounds)" if len(rounds) > 1 else ""
    results.add(f"2. stamp_http_vs_reference_ratio R{median_note}", f"{ratio:.3f}", ">= 0.35 (aim 0.5)", ratio >= 0.35)
    results.add("2. stamp_http_vs_sql_ratio (own SQL; SQL's share of the gap)", f"{median['sql_ratio']:.3f}")
    cpu = " / ".join(f"{us:.0f}" for us in median["peak"]["cpu_us"].values())
    results.add(f"2. CPU µs per stamp: {' / '.join(median['peak']['cpu_us'])}", cpu)
    for workers, figures in sweep:
        results.add(
            f"   sweep: {workers} workers, stamps/s (p99 ms)", f"{figures['rate']:.0f} ({figures['p99_us'] / 1000:.0f})"
        )
    late = f", {half['late']} late sends" if half["late"] else ""
    results.add(f"3. half load: rate achieved / asked{late}", f"{half['rate']:.0f} / {peak['rate'] / 2:.0f}")
    results.add(
        "3. half load p50 / p99 (ms)",
        f"{half['p50_us'] / 1000:.1f} / {half['p99_us'] / 1000:.1f}",
        "p99 <= 25 ms",
        half["p99_us"] <= 25_000 and not half["late"],
    )
    results.add(f"4. PIN stamps/s (bcrypt cost {opts.bcrypt_rounds})", f"{pin_http['rate']:.2f}")
    results.add(f"4. raw bcrypt.checkpw/s ({os.cpu_count()} processes)", f"{raw:.2f}")
    results.add("4. PIN stamps / raw bcrypt", f"{pin_http['rate'] / raw:.2f}", ">= 0.8", pin_http["rate"] >= 0.8 * raw)
    scale_note = " (QUICK: a tenth of the issue's scale)" if opts.quick else ""
    results.add(f"5. scale data{scale_note}", f"{opts.scale_cards:,} cards / {ledger_rows:,} rows")
    for name, figures in reads.items():
        limit = 100 if name.startswith("admin") else 50
        results.add(
            f"5. {name}, median (p95) ms",
            f"{figures['median']:.1f} ({figures['p95']:.1f})",
            f"<= {limit} ms",
            figures["median"] <= limit,
        )
    for pid, mb in sorted(rss.items()):
        results.add(f"5. worker {pid} RSS after the load (MB)", f"{mb:.0f}", "<= 150 MB", mb <= 150)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
