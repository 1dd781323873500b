"""Scenario 3, pool exhaustion: more concurrent requests than one worker's pool holds (the default 8
connections), one route family at a time, on a server with ONE worker:

(a) 60 concurrent public enrolments, 60 different e-mails: all 60 must answer 201;
(b) 40 concurrent counter writes with a wrong staff PIN, over the five counter routes: each must
    answer 403 INVALID_STAFF_PIN or 423 STAFF_PIN_LOCKED, and write nothing;
(c) several concurrent CSV exports of a vendor with many ledger rows (written with SQL) while
    terminals stamp: every export must answer 200 text/csv with every row, and begin its answer
    within the time all the exports take one after the other (measured alone first) plus the bounded
    wait and margin; every stamp 201 within the bounded wait and margin.

No answer may be 500 and no request may take longer than the bounded wait (5 s) plus a margin. A 503
(with Retry-After) is accepted in (b) and (c) only when the request really waited the bounded wait for a
connection (it took at least 5 s); in (a) every enrolment must succeed.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from bench.common import VENV_BIN, log
from bench.faults.common import (
    BOUNDED_WAIT,
    HARD_TIMEOUT,
    SLOW_LIMIT,
    VENDOR,
    WRONG_PIN,
    Options,
    Outcome,
    RetryRule,
    Row,
    ServerProcess,
    Tenant,
    add_ledger,
    add_server_log,
    api,
    check_ledger,
    connect,
    faults_env,
    log_offset,
    new_client,
    seed_vendor,
    send,
    summarise_outcomes,
)

ENROLMENTS = 60
WRONG_PIN_WRITES = 40
STAMPERS = 16
SEED_NOTE = "faults-seed"
CSV_TIMEOUT = 120.0


@dataclass(frozen=True)
class Plan:
    exports: int
    ledger_rows: int


def plan(opts: Options) -> Plan:
    return Plan(exports=4, ledger_rows=100_000) if opts.quick else Plan(exports=8, ledger_rows=250_000)


def check_503s(row: Row, outcomes: list[Outcome]) -> None:
    """A 503 is acceptable only after the request waited the bounded wait for a connection."""
    early = [(o.route, t) for o in outcomes for t in o.slow_503 if t < BOUNDED_WAIT - 0.25]
    if early:
        routes = sorted({route for route, _ in early})
        row.failures.append(
            f"{len(early)} answers 503 after less than the bounded wait ({BOUNDED_WAIT:.0f} s; e.g. "
            f"{min(t for _, t in early):.2f} s) on {', '.join(routes)}: the pool did not stay full past the wait"
        )


async def all_at_once(
    base: str, count: int, make: Callable[[httpx.AsyncClient, int], Awaitable[Outcome]]
) -> list[Outcome]:
    """`count` requests released together, each from a client of its own whose connection is already
    open (warmed with a GET that needs no database), so they reach the server within a few
    milliseconds: the burst measures the pool, not TCP set-up."""
    gun = asyncio.Event()
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(new_client(1)) for _ in range(count)]
        await asyncio.gather(*(client.get(f"{base}/openapi.json") for client in clients))

        async def one(index: int) -> Outcome:
            await gun.wait()
            return await make(clients[index], index)

        tasks = [asyncio.create_task(one(i)) for i in range(count)]
        await asyncio.sleep(0.2)
        gun.set()
        return list(await asyncio.gather(*tasks))


# --- (a) enrolments -------------------------------------------------------------------------------


async def enrolments(server: ServerProcess, admin_key: str, run_id: int) -> Row:
    row = Row(f"3a pool: {ENROLMENTS} enrolments")
    async with new_client(4) as client:
        tenant = await seed_vendor(client, server.base, admin_key, "pool-enrol", cards=0)
        url = f"{server.base}/api/v1/loyalty/programs/{tenant.slug}/enroll"
        route = "POST /api/v1/loyalty/programs/{vendor_slug}/enroll"

        async def enrol(client: httpx.AsyncClient, index: int) -> Outcome:
            body = {"email": f"enrol-{run_id}-{index}@pool.faults.example", "name": f"Burst {index}"}
            return await send(
                client, "POST", url, route, op="enrol", key=f"enrol-{run_id}-{index}", api_key=None, body=body
            )

        started = time.monotonic()
        outcomes = await all_at_once(server.base, ENROLMENTS, enrol)
        elapsed = time.monotonic() - started
    summarise_outcomes(row, outcomes, allowed={201: None})
    connection = await connect()
    try:
        emails = {
            str(r["email_normalised"])
            for r in await connection.fetch(
                "SELECT cu.email_normalised FROM loyalty_cards c JOIN customers cu ON cu.id = c.customer_id "
                "WHERE c.program_id = $1",
                tenant.program_id,
            )
        }
    finally:
        await connection.close()
    answered = {f"enrol-{run_id}-{i}@pool.faults.example": o for i, o in enumerate(outcomes)}
    row.acknowledged = sum(1 for o in outcomes if o.ok)
    row.lost = sum(1 for email, o in answered.items() if o.ok and email not in emails)
    row.duplicated = 0
    row.orphans = sum(1 for email in emails if email not in answered or not answered[email].ok)
    if row.lost or row.orphans:
        row.failures.append(f"{row.lost} enrolments answered 201 have no card; {row.orphans} cards nobody was told of")
    statuses = _histogram(outcomes)
    row.notes.append(f"statuses {statuses}; the burst took {elapsed:.1f} s; slowest {row.max_latency:.2f} s")
    return row


# --- (b) wrong PINs -------------------------------------------------------------------------------


async def wrong_pins(server: ServerProcess, admin_key: str) -> Row:
    row = Row(f"3b pool: {WRONG_PIN_WRITES} wrong PINs")
    async with new_client(4) as client:
        tenant = await seed_vendor(client, server.base, admin_key, "pool-pin", cards=5)
        good = tenant.pins[0]
        card = tenant.card_ids[0]
        entry = await api(
            client, "POST", f"{server.base}{VENDOR}/stamp", tenant.key, {"card_id": card, "staff_pin": good}
        )
        await api(
            client,
            "POST",
            f"{server.base}{VENDOR}/points/earn",
            tenant.key,
            {"card_id": card, "staff_pin": good, "purchase_amount_cents": 5000},
        )
        before = await _ledger_rows(tenant.vendor_id)
        void = f"/transactions/{entry['transaction_id']}/void"
        requests: list[tuple[str, str, dict[str, object]]] = [
            ("/stamp", "/stamp", {}),
            ("/stamp/redeem", "/stamp/redeem", {}),
            ("/points/earn", "/points/earn", {"purchase_amount_cents": 1200}),
            ("/points/redeem", "/points/redeem", {"reward_id": tenant.reward_ids[0]}),
            ("/transactions/{transaction_id}/void", void, {"reason": "wrong pin"}),
        ]

        async def write(client: httpx.AsyncClient, index: int) -> Outcome:
            template, path, extra = requests[index % len(requests)]
            body: dict[str, object] = {"staff_pin": WRONG_PIN, **extra}
            if "void" not in path:
                body["card_id"] = tenant.card_ids[index % len(tenant.card_ids)]
            return await send(
                client,
                "POST",
                f"{server.base}{VENDOR}{path}",
                f"POST {VENDOR}{template}",
                op="wrong-pin",
                key=f"wrong-pin-{index}",
                api_key=tenant.key,
                body=body,
            )

        outcomes = await all_at_once(server.base, WRONG_PIN_WRITES, write)
    allowed: dict[int, set[str] | None] = {403: {"INVALID_STAFF_PIN"}, 423: {"STAFF_PIN_LOCKED"}, 503: None}
    summarise_outcomes(row, outcomes, allowed=allowed)
    check_503s(row, outcomes)
    after = await _ledger_rows(tenant.vendor_id)
    row.acknowledged, row.lost, row.duplicated, row.orphans = 0, 0, 0, after - before
    if after != before:
        row.failures.append(f"{after - before} ledger rows were written by requests with a wrong PIN")
    unexpected_ok = [o for o in outcomes if o.ok]
    if unexpected_ok:
        row.failures.append(f"{len(unexpected_ok)} writes with a wrong PIN answered 2xx")
    row.notes.append(f"statuses {_histogram(outcomes)}; slowest {row.max_latency:.2f} s")
    return row


async def _ledger_rows(vendor_id: int) -> int:
    connection = await connect()
    try:
        return int(
            await connection.fetchval("SELECT count(*) FROM loyalty_transactions WHERE vendor_id = $1", vendor_id)
        )
    finally:
        await connection.close()


# --- (c) CSV exports while stamping ---------------------------------------------------------------


async def seed_ledger(tenant: Tenant, rows: int) -> None:
    """`rows` ledger entries (1 point each, spread over the vendor's cards and the last 60 days) written
    with SQL, the cards' balances moved to match, then `loyalty db rebuild-totals`."""
    connection = await connect()
    try:
        await connection.execute(
            """
            WITH cards AS (
                SELECT id, vendor_id, program_id, (row_number() OVER (ORDER BY id) - 1)::int AS n
                FROM loyalty_cards WHERE vendor_id = $1
            ), k AS (SELECT count(*)::int AS k FROM cards)
            INSERT INTO loyalty_transactions (vendor_id, program_id, card_id, transaction_type, stamps_delta,
                points_delta, stamps_balance_after, points_balance_after, purchase_amount_cents, notes,
                client_ip, user_agent, transaction_at)
            SELECT c.vendor_id, c.program_id, c.id, 'points_earned', 0, 1, 0, g / k.k + 1, 100, $3,
                   '127.0.0.1', 'loyalty-faults', now() - interval '60 days' * ($2 - g) / $2
            FROM generate_series(0, $2 - 1) g CROSS JOIN k JOIN cards c ON c.n = g % k.k
            """,
            tenant.vendor_id,
            rows,
            SEED_NOTE,
        )
        await connection.execute(
            """
            UPDATE loyalty_cards c SET points_balance = c.points_balance + s.n,
                total_points_earned = c.total_points_earned + s.n
            FROM (SELECT card_id, count(*) AS n FROM loyalty_transactions WHERE vendor_id = $1 AND notes = $2
                  GROUP BY card_id) s
            WHERE c.id = s.card_id
            """,
            tenant.vendor_id,
            SEED_NOTE,
        )
        await connection.execute("VACUUM ANALYZE loyalty_transactions")
    finally:
        await connection.close()
    command = [str(VENV_BIN / "loyalty"), "db", "rebuild-totals"]
    await asyncio.to_thread(subprocess.run, command, env=faults_env(), check=True, capture_output=True)


@dataclass
class Export:
    status: int | None = None
    content_type: str = ""
    headers_after: float = 0.0
    seconds: float = 0.0
    lines: int = 0
    error: str = ""
    first_line: str = ""


async def export(client: httpx.AsyncClient, base: str, key: str) -> Export:
    found = Export()
    started = time.monotonic()
    headers = {"Authorization": f"Bearer {key}", "Accept": "text/csv"}
    try:
        async with client.stream("GET", f"{base}{VENDOR}/transactions", headers=headers) as answer:
            found.headers_after = time.monotonic() - started
            found.status = answer.status_code
            found.content_type = answer.headers.get("content-type", "")
            tail = b""
            async for chunk in answer.aiter_bytes():
                if not found.first_line:
                    found.first_line = chunk.split(b"\n", 1)[0].decode(errors="replace")[:200]
                found.lines += chunk.count(b"\n")
                tail = chunk[-1:]
            if tail and tail != b"\n":
                found.lines += 1
    except httpx.HTTPError as exc:
        found.error = f"{type(exc).__name__}: {exc}"
    found.seconds = time.monotonic() - started
    return found


async def stamper(
    index: int, base: str, tenant: Tenant, stop: asyncio.Event, rng: random.Random, out: list[Outcome]
) -> None:
    async with new_client(1) as client:
        for seq in range(100_000):
            if stop.is_set():
                return
            key = f"csv-stamp-{index}-{seq}"
            body = {"card_id": rng.choice(tenant.card_ids), "staff_pin": tenant.pins[0], "notes": key}
            out.append(
                await send(
                    client,
                    "POST",
                    f"{base}{VENDOR}/stamp",
                    f"POST {VENDOR}/stamp",
                    op="stamp",
                    key=key,
                    api_key=tenant.key,
                    body=body,
                    rule=RetryRule(attempts=1),
                )
            )


async def exports_while_stamping(server: ServerProcess, admin_key: str, p: Plan, seed: int) -> Row:
    row = Row(f"3c pool: {p.exports} CSV exports + stamps")
    async with new_client(8) as client:
        tenant = await seed_vendor(client, server.base, admin_key, "pool-csv", cards=20)
    started = time.monotonic()
    await seed_ledger(tenant, p.ledger_rows)
    log(f"pool: {p.ledger_rows} ledger rows written for the CSV vendor in {time.monotonic() - started:.1f} s")
    # One export alone first: under load, an export may take as long as all of them one after the other
    # (they share the CPUs), plus the bounded wait and its margin, before its answer begins.
    async with new_client(1, timeout=CSV_TIMEOUT) as client:
        solo = await export(client, server.base, tenant.key)
    export_limit = SLOW_LIMIT + p.exports * solo.seconds
    if solo.status != 200 or solo.error:
        row.failures.append(f"an export alone answered {solo.status} {solo.error} ({solo.first_line})")
    stop = asyncio.Event()
    stamps: list[Outcome] = []
    rng = random.Random(seed)
    tasks = [
        asyncio.create_task(stamper(i, server.base, tenant, stop, random.Random(rng.random()), stamps))
        for i in range(STAMPERS)
    ]
    try:
        await asyncio.sleep(1.0)
        async with new_client(p.exports, timeout=CSV_TIMEOUT) as client:
            results = await asyncio.gather(*(export(client, server.base, tenant.key) for _ in range(p.exports)))
        await asyncio.sleep(0.5)
    finally:
        stop.set()
        done, pending = await asyncio.wait(tasks, timeout=HARD_TIMEOUT + 10)
        for task in pending:
            task.cancel()
        if pending:
            row.failures.append(f"{len(pending)} stampers did not finish (hang)")
        for task in done:
            if task.exception() is not None:
                row.failures.append(f"a stamper crashed: {task.exception()!r}")
    summarise_outcomes(row, stamps, allowed={201: None, 503: None})
    check_503s(row, stamps)
    add_ledger(row, await check_ledger([tenant.vendor_id], stamps, ignore_notes={SEED_NOTE}))
    route = f"GET {VENDOR}/transactions (Accept: text/csv)"
    row.ops += len(results)
    for index, found in enumerate(results):
        row.max_latency = max(row.max_latency, found.headers_after)
        if found.status is not None and found.status >= 500:
            row.server_errors += 1
            row.unavailable += found.status == 503
        if found.error:
            row.failures.append(f"export {index}: {found.error} after {found.seconds:.1f} s on {route}")
        elif found.status == 503 and found.headers_after >= BOUNDED_WAIT - 0.25:
            row.notes.append(f"export {index}: 503 after {found.headers_after:.1f} s (the pool stayed full)")
        elif found.status != 200 or "text/csv" not in found.content_type:
            row.failures.append(
                f"export {index}: {found.status} {found.content_type} ({found.first_line}) after "
                f"{found.headers_after:.1f} s on {route}"
            )
        elif found.lines - 1 < p.ledger_rows:
            row.failures.append(f"export {index}: {found.lines - 1} rows, fewer than the {p.ledger_rows} seeded")
        if found.headers_after > export_limit:
            row.hangs += 1
            row.failures.append(
                f"export {index}: the answer began only after {found.headers_after:.1f} s on {route} (limit "
                f"{export_limit:.1f} s: {p.exports} x {solo.seconds:.1f} s for an export alone + {SLOW_LIMIT:.0f} s)"
            )
    row.notes.append(
        f"an export alone: {solo.status}, {max(0, solo.lines - 1)} rows, began after {solo.headers_after:.2f} s, "
        f"done after {solo.seconds:.1f} s"
    )
    row.notes.append(
        "concurrent exports (status, rows, answer began after s, done after s): "
        + "; ".join(f"{e.status}, {max(0, e.lines - 1)}, {e.headers_after:.2f}, {e.seconds:.1f}" for e in results)
    )
    row.notes.append(
        f"{len(stamps)} stamps meanwhile, statuses {_histogram(stamps)}, slowest "
        f"{max((o.max_attempt for o in stamps), default=0):.2f} s"
    )
    return row


def _histogram(outcomes: list[Outcome]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for o in outcomes:
        label = f"{o.status} {o.error_code}" if o.error_code else str(o.status)
        counts[label] = counts.get(label, 0) + 1
    return dict(sorted(counts.items()))


async def run(opts: Options, admin_key: str) -> list[Row]:
    p = plan(opts)
    server = ServerProcess("pool", opts.work_dir, workers=1, env={"LOYALTY_ENROLL_RATE_LIMIT": "1000000"})
    await server.start()
    rows: list[Row] = []
    try:
        for part in ("a", "b", "c"):
            offset = log_offset(server.log_path)
            if part == "a":
                row = await enrolments(server, admin_key, opts.seed)
            elif part == "b":
                row = await wrong_pins(server, admin_key)
            else:
                row = await exports_while_stamping(server, admin_key, p, opts.seed)
            add_server_log(row, server, offset)
            rows.append(row)
            log(f"pool: {row.scenario}: {'pass' if row.ok else 'FAIL'}")
    finally:
        server.stop()
    return rows
