"""Scenario 1, crash: counter terminals write without pause while the whole server (the uvicorn
supervisor and its workers) is `kill -9`ed at random moments and restarted on the same port.

Each terminal retries a dropped connection, a connection error or a 503 with the same
Idempotency-Key until it gets an HTTP answer (bounded). Afterwards the ledger must hold every
acknowledged answer exactly once and nothing else (see common.check_ledger).
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass

from bench.common import log
from bench.faults.common import (
    BUSINESS_REFUSALS,
    HARD_TIMEOUT,
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
    new_client,
    seed_vendor,
    send,
    summarise_outcomes,
)

CLIENTS = 32
VENDORS = 8  # 4 terminals a vendor, each with its own staff PIN
CARDS_PER_VENDOR = 25
RETRY = RetryRule(attempts=80, budget=60.0)
ALLOWED: dict[int, set[str] | None] = {201: None, 400: BUSINESS_REFUSALS}
VOIDABLE = ("stamp", "earn", "stamp_redeem", "points_redeem")


@dataclass(frozen=True)
class Plan:
    kills: int
    first_after: float  # seconds of load before the first kill
    gap: tuple[float, float]  # random pause between a restart and the next kill
    tail: float  # seconds of load after the last restart


def plan(opts: Options) -> Plan:
    if opts.quick:
        return Plan(kills=5, first_after=2.0, gap=(1.0, 3.0), tail=3.0)
    return Plan(kills=20, first_after=4.0, gap=(2.0, 8.0), tail=8.0)


@dataclass
class Kill:
    at: float
    pids: int
    restart_seconds: float
    first_ack_after: float | None = None


async def terminal(
    index: int, base: str, tenant: Tenant, pin: str, stop: asyncio.Event, rng: random.Random, out: list[Outcome]
) -> None:
    """One counter terminal: a random mix of stamps, redemptions, earns, spends and voids of its own
    earlier acknowledged entries, each with its own key (also written into the entry's notes)."""
    voidable: list[int] = []
    async with new_client(1, timeout=HARD_TIMEOUT) as client:
        for seq in range(100_000):
            if stop.is_set():
                return
            key = f"crash-t{index}-{seq}"
            card = rng.choice(tenant.card_ids)
            draw = rng.random()
            body: dict[str, object] = {"card_id": card, "staff_pin": pin, "notes": key}
            if draw < 0.15 and voidable:
                target = voidable.pop(rng.randrange(len(voidable)))
                op, path = "void", f"/transactions/{target}/void"
                route = f"POST {VENDOR}/transactions/{{transaction_id}}/void"
                body = {"reason": key, "staff_pin": pin}
            elif draw < 0.55:
                op, path = "stamp", "/stamp"
            elif draw < 0.80:
                op, path = "earn", "/points/earn"
                body["purchase_amount_cents"] = rng.randint(100, 5000)
            elif draw < 0.90:
                op, path = "stamp_redeem", "/stamp/redeem"
            else:
                op, path = "points_redeem", "/points/redeem"
                body["reward_id"] = rng.choice(tenant.reward_ids)
            if op != "void":
                route = f"POST {VENDOR}{path}"
            outcome = await send(
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
            out.append(outcome)
            if outcome.ok and op in VOIDABLE and outcome.transaction_id is not None:
                voidable.append(outcome.transaction_id)


async def killer(server: ServerProcess, p: Plan, rng: random.Random) -> list[Kill]:
    kills: list[Kill] = []
    await asyncio.sleep(p.first_after)
    for number in range(p.kills):
        at = time.monotonic()
        pids = await asyncio.to_thread(server.kill9)
        restart = await server.start()
        log(f"crash: kill {number + 1}/{p.kills}: {len(pids)} processes killed, healthy again after {restart:.1f} s")
        kills.append(Kill(at, len(pids), restart))
        await asyncio.sleep(rng.uniform(*p.gap))
    await asyncio.sleep(p.tail)
    return kills


async def run(opts: Options, admin_key: str) -> Row:
    row = Row("1 crash (kill -9 x N)")
    rng = random.Random(opts.seed)
    p = plan(opts)
    server = ServerProcess("crash", opts.work_dir, workers=2)
    await server.start()
    try:
        async with new_client(16) as client:
            tenants = [
                await seed_vendor(
                    client, server.base, admin_key, f"crash-{v}", cards=CARDS_PER_VENDOR, pins=CLIENTS // VENDORS
                )
                for v in range(VENDORS)
            ]
        log(f"crash: {VENDORS} vendors, {VENDORS * CARDS_PER_VENDOR} cards; {CLIENTS} terminals, {p.kills} kills")
        stop = asyncio.Event()
        outcomes: list[Outcome] = []
        tasks = [
            asyncio.create_task(
                terminal(
                    i,
                    server.base,
                    tenants[i % VENDORS],
                    tenants[i % VENDORS].pins[i // VENDORS],
                    stop,
                    random.Random(rng.random()),
                    outcomes,
                )
            )
            for i in range(CLIENTS)
        ]
        started = time.monotonic()
        try:
            kills = await killer(server, p, rng)
        finally:
            stop.set()
            # Each terminal finishes the operation it is in (bounded by its retry budget).
            done, pending = await asyncio.wait(tasks, timeout=RETRY.budget + HARD_TIMEOUT + 10)
            for task in pending:
                task.cancel()
            for task in done:
                if task.exception() is not None:
                    row.failures.append(f"a terminal crashed: {task.exception()!r}")
            if pending:
                row.failures.append(f"{len(pending)} terminals did not finish their last operation (hang)")
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    for kill in kills:
        acks = [o.finished for o in outcomes if o.ok and o.last_sent > kill.at]
        kill.first_ack_after = min(acks) - kill.at if acks else None
    summarise_outcomes(row, outcomes, allowed=ALLOWED)
    add_ledger(row, await check_ledger([t.vendor_id for t in tenants], outcomes))
    add_server_log(row, server)
    recoveries = [k.first_ack_after for k in kills if k.first_ack_after is not None]
    row.recovery = max(recoveries) if recoveries else None
    if len(kills) < p.kills:
        row.failures.append(f"only {len(kills)} of {p.kills} kills happened")
    if len(recoveries) < len(kills):
        row.failures.append("after a kill, no request was acknowledged again")
    retried = sum(1 for o in outcomes if o.transport_errors)
    replayed = sum(1 for o in outcomes if o.ok and o.transport_errors)
    by_op = {
        op: sum(1 for o in outcomes if o.op == op and o.ok)
        for op in ("stamp", "stamp_redeem", "earn", "points_redeem", "void")
    }
    refused = sum(1 for o in outcomes if o.status == 400)
    row.notes.append(
        f"{len(outcomes)} operations in {elapsed:.0f} s by {CLIENTS} terminals; acknowledged by type {by_op}; "
        f"{refused} refused by the rules (400)"
    )
    row.notes.append(
        f"{len(kills)} kills ({', '.join(str(k.pids) for k in kills)} processes each), restarts took "
        f"{', '.join(f'{k.restart_seconds:.1f}' for k in kills)} s; first acknowledgement after each kill: "
        f"{', '.join('-' if k.first_ack_after is None else f'{k.first_ack_after:.1f}' for k in kills)} s"
    )
    row.notes.append(f"{retried} operations met a dropped connection or connection error; {replayed} of them ended 2xx")
    return row
