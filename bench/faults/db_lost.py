"""Scenario 2, database connections lost: under a steady paced load of stamps and earns, every
connection the service holds to its database is terminated (`pg_terminate_backend`) a few times;
with --restart-postgres the PostgreSQL cluster itself is restarted at the end as well.

Answers must be 2xx or 503 (never 500), the acknowledged rate must come back to 80 % of the rate
before the first fault within a few seconds (the recovery time), and the ledger checks of the crash
scenario must hold. A health poller watches /api/v1/loyalty/health through the faults: it must never
answer 500, and while the cluster is down (--restart-postgres) it should answer 503 with
"database": "unavailable".
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import PG_ADMIN_URL, log
from bench.faults.common import (
    DB_NAME,
    HEALTH,
    VENDOR,
    Options,
    Outcome,
    RetryRule,
    Row,
    ServerProcess,
    Tenant,
    add_ledger,
    add_server_log,
    check_ledger,
    connect,
    new_client,
    seed_vendor,
    send,
    summarise_outcomes,
)

VENDORS = 3
TERMINALS_PER_VENDOR = 4
CARDS_PER_VENDOR = 25
RATE_PER_TERMINAL = 8.0  # operations a second: 96/s in all, well under this machine's capacity
RETRY = RetryRule(attempts=60, budget=30.0)
RECOVERY_SHARE = 0.8  # recovered: the first 1 s window at >= 80 % of the pre-fault rate
RECOVERY_LIMIT = 5.0  # seconds
HEALTH_EVERY = 0.2


@dataclass(frozen=True)
class Plan:
    warm: float
    baseline: float
    terminations: int
    gap: float  # seconds between faults (and after the last one)
    restart_gap: float  # seconds of load after a cluster restart


def plan(opts: Options) -> Plan:
    if opts.quick:
        return Plan(warm=2.0, baseline=5.0, terminations=3, gap=6.0, restart_gap=10.0)
    return Plan(warm=3.0, baseline=8.0, terminations=8, gap=8.0, restart_gap=15.0)


@dataclass
class Fault:
    kind: str
    at: float
    detail: str
    recovery: float | None = None
    health: list[tuple[float, int | None, str]] = field(default_factory=list)


async def terminate_backends() -> int:
    admin = await connect(PG_ADMIN_URL)
    try:
        value = await admin.fetchval(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()) terminated",
            DB_NAME,
        )
        return int(value)
    finally:
        await admin.close()


def postgres_cluster() -> tuple[str, str]:
    """(version, cluster) of the local cluster: the highest version under /etc/postgresql, `main`."""
    versions = sorted((p.name for p in Path("/etc/postgresql").iterdir() if p.name.isdigit()), key=int)
    if not versions:
        raise RuntimeError("no cluster under /etc/postgresql")
    return versions[-1], "main"


async def restart_postgres() -> str:
    version, cluster = postgres_cluster()
    command = ["pg_ctlcluster", "--skip-systemctl-redirect", version, cluster, "restart"]
    started = time.monotonic()
    done = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()}")
    return f"{' '.join(command)} took {time.monotonic() - started:.1f} s"


async def paced_terminal(
    index: int, base: str, tenant: Tenant, pin: str, stop: asyncio.Event, rng: random.Random, out: list[Outcome]
) -> None:
    interval = 1.0 / RATE_PER_TERMINAL
    due = time.monotonic() + rng.uniform(0, interval)
    async with new_client(1) as client:
        for seq in range(100_000):
            now = time.monotonic()
            if due > now:
                await asyncio.sleep(due - now)
            if stop.is_set():
                return
            due = max(due + interval, time.monotonic())  # never a burst to catch up
            key = f"dblost-t{index}-{seq}"
            body: dict[str, object] = {"card_id": rng.choice(tenant.card_ids), "staff_pin": pin, "notes": key}
            if rng.random() < 0.5:
                op, path = "stamp", "/stamp"
            else:
                op, path = "earn", "/points/earn"
                body["purchase_amount_cents"] = rng.randint(100, 5000)
            route = f"POST {VENDOR}{path}"
            out.append(
                await send(
                    client,
                    "POST",
                    f"{base}{VENDOR}{path}",
                    route,
                    op=op,
                    key=key,
                    api_key=tenant.key,
                    body=body,
                    rule=RETRY,
                )
            )


async def health_poller(base: str, stop: asyncio.Event, out: list[Outcome]) -> None:
    async with new_client(1, timeout=10.0) as client:
        for seq in range(100_000):
            if stop.is_set():
                return
            outcome = await send(
                client, "GET", f"{base}{HEALTH}", f"GET {HEALTH}", op="health", key=f"health-{seq}", api_key=None
            )
            out.append(outcome)
            await asyncio.sleep(HEALTH_EVERY)


def _recovery(acks: list[float], fault_at: float, until: float, rate: float) -> float | None:
    """Seconds from the fault to the first 1 s window (stepped by 0.1 s) holding >= 80 % of `rate` acks."""
    need = RECOVERY_SHARE * rate
    start = fault_at
    while start + 1.0 <= until:
        if sum(1 for t in acks if start <= t < start + 1.0) >= need:
            return start - fault_at
        start += 0.1
    return None


async def run(opts: Options, admin_key: str) -> Row:
    row = Row("2 db connections lost" + (" + pg restart" if opts.restart_postgres else ""))
    rng = random.Random(opts.seed + 2)
    p = plan(opts)
    server = ServerProcess("db-lost", opts.work_dir, workers=2)
    await server.start()
    faults: list[Fault] = []
    writes: list[Outcome] = []
    health: list[Outcome] = []
    baseline_from = ended = time.monotonic()
    try:
        async with new_client(16) as client:
            tenants = [
                await seed_vendor(
                    client, server.base, admin_key, f"dblost-{v}", cards=CARDS_PER_VENDOR, pins=TERMINALS_PER_VENDOR
                )
                for v in range(VENDORS)
            ]
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(
                paced_terminal(
                    i,
                    server.base,
                    tenants[i % VENDORS],
                    tenants[i % VENDORS].pins[i // VENDORS],
                    stop,
                    random.Random(rng.random()),
                    writes,
                )
            )
            for i in range(VENDORS * TERMINALS_PER_VENDOR)
        ]
        tasks.append(asyncio.create_task(health_poller(server.base, stop, health)))
        try:
            await asyncio.sleep(p.warm)
            baseline_from = time.monotonic()
            await asyncio.sleep(p.baseline)
            for number in range(p.terminations):
                at = time.monotonic()
                terminated = await terminate_backends()
                log(f"db-lost: fault {number + 1}: {terminated} connections of {DB_NAME} terminated")
                faults.append(Fault("terminate", at, f"{terminated} connections terminated"))
                await asyncio.sleep(p.gap)
            if opts.restart_postgres:
                at = time.monotonic()
                detail = await restart_postgres()
                log(f"db-lost: {detail}")
                faults.append(Fault("pg restart", at, detail))
                await asyncio.sleep(p.restart_gap)
            ended = time.monotonic()
        finally:
            stop.set()
            done, pending = await asyncio.wait(tasks, timeout=RETRY.budget + 40)
            for task in pending:
                task.cancel()
            for task in done:
                if task.exception() is not None:
                    row.failures.append(f"a client crashed: {task.exception()!r}")
            if pending:
                row.failures.append(f"{len(pending)} clients did not finish their last operation (hang)")
    finally:
        server.stop()
    acks = sorted(o.finished for o in writes if o.ok)
    first_fault = faults[0].at if faults else ended
    rate = sum(1 for t in acks if baseline_from <= t < first_fault) / max(0.1, first_fault - baseline_from)
    for index, fault in enumerate(faults):
        until = faults[index + 1].at if index + 1 < len(faults) else ended
        fault.recovery = _recovery(acks, fault.at, until, rate)
        fault.health = [
            (o.finished - fault.at, o.status, str(o.body.get("database")) if isinstance(o.body, dict) else "-")
            for o in health
            if fault.at <= o.last_sent < until
        ]
    summarise_outcomes(row, writes, allowed={201: None})
    summarise_outcomes(row, health, allowed={200: None, 503: None}, count_ops=False)
    add_ledger(row, await check_ledger([t.vendor_id for t in tenants], writes))
    add_server_log(row, server)
    recoveries = [f.recovery for f in faults]
    row.recovery = max((r for r in recoveries if r is not None), default=None)
    for fault in faults:
        if fault.recovery is None:
            row.failures.append(
                f"{fault.kind} at +{fault.at - baseline_from:.0f} s: the rate never came back to "
                f"{RECOVERY_SHARE:.0%} of {rate:.0f}/s before the next fault"
            )
        elif fault.recovery > RECOVERY_LIMIT:
            row.failures.append(f"{fault.kind}: recovery took {fault.recovery:.1f} s (limit {RECOVERY_LIMIT:.0f} s)")
    for fault in faults:
        if fault.kind == "pg restart":
            down = [h for h in fault.health if h[1] == 503 and h[2] == "unavailable"]
            bad = [h for h in fault.health if h[1] not in (200, 503)]
            row.notes.append(
                f"health during the restart: {len(down)} x 503 database=unavailable, "
                f"{sum(1 for h in fault.health if h[1] == 200)} x 200, {len(bad)} other "
                f"({', '.join(f'+{t:.1f}s {s}' for t, s, _ in bad[:5])})"
            )
            if not down:
                row.failures.append(
                    f"{GET_HEALTH} never answered 503 with database=unavailable while PostgreSQL restarted"
                )
    row.notes.append(
        f"{len(writes)} writes at ~{RATE_PER_TERMINAL * VENDORS * TERMINALS_PER_VENDOR:.0f}/s asked; pre-fault rate "
        f"{rate:.0f} acks/s; faults: "
        + "; ".join(
            f"{f.kind} ({f.detail}) -> recovered in {'-' if f.recovery is None else f'{f.recovery:.1f}'} s"
            for f in faults
        )
    )
    row.notes.append(
        f"{len(health)} health checks: "
        + ", ".join(f"{status}: {sum(1 for h in health if h.status == status)}" for status in _statuses(health))
    )
    retried = sum(1 for o in writes if len(o.statuses) > 1 or o.transport_errors)
    row.notes.append(f"{retried} writes were retried (503 or connection error) with their Idempotency-Key")
    return row


GET_HEALTH = f"GET {HEALTH}"


def _statuses(outcomes: list[Outcome]) -> list[int | None]:
    seen: list[int | None] = []
    for outcome in outcomes:
        if outcome.status not in seen:
            seen.append(outcome.status)
    return seen
