"""`bench/pushes/run`: how fast `loyalty worker` pushes to APNs, and how long a stamp waits for its push.

1. drain  K due outbox rows (2,000 with --quick, 20,000 without), each for a card one device holds, with one
          `loyalty worker` process, then with two: pushes per second, side by side.
2. lag    stamps at a steady rate (20/s) on distinct cards through the HTTP API of a `loyalty serve`, one
          `loyalty worker` with its default settings: each stamp's commit to its push reaching the peer,
          p50 and p99, also minus the 2 s coalescing delay (services/outbox.py: COALESCE_SECONDS).

The APNs peer is the tests' (tests/apns_peer.py), in a process of its own (bench/pushes/peer.py), on the
development certificates. Everything runs in a database of its own, `loyalty_pushes`, dropped at the end.
See docs/performance.md, "Wallet pushes".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

from bench.common import (
    PG_ADMIN_URL,
    SECRET_KEY,
    VENV_BIN,
    Server,
    busy_cpu_percent,
    log,
    recreate_database,
    server_env,
)
from loyalty.clock import SystemClock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.models import ProgramType
from loyalty.services import api_keys, programs, vendors
from loyalty.services.context import Actor, Context
from loyalty.services.outbox import COALESCE_SECONDS
from loyalty.wallet.dev_certs import DEV_PASS_TYPE_ID, DEV_TEAM_ID, DevCertificatePaths, write_dev_certificates

DB_NAME = "loyalty_pushes"
DB_URL = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + DB_NAME
STAMP = "/api/v1/vendor/loyalty/stamp"
QUICK_ROWS, FULL_ROWS = 2_000, 20_000
QUICK_LAG_SECONDS, FULL_LAG_SECONDS = 20, 60
STAMP_RATE = 20.0  # stamps per second in phase 2
WARM_UP_STAMPS = 5  # phase 2: stamps whose pushes open the worker's connection before the measured ones
SAMPLE_SECONDS = 0.25  # phase 1: how often the peer's count and the processes' CPU are read
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Options:
    quick: bool
    rows: int  # phase 1: due outbox rows per run
    rounds: int  # phase 1: runs of (1 worker, 2 workers)
    rate: float  # phase 2: stamps per second
    lag_seconds: int  # phase 2: how long it stamps
    work_dir: Path
    keep_db: bool
    requests_per_connection: int  # the peer's cap before it closes a connection (0: none)

    @property
    def stamps(self) -> int:
        return round(self.rate * self.lag_seconds)

    @property
    def cards(self) -> int:
        return max(self.rows, self.stamps + WARM_UP_STAMPS)


# --- the machine --------------------------------------------------------------------------------------


def process_times(pid: int) -> tuple[float, float] | None:
    """User and system CPU seconds of a process (None once it is gone)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # from field 3, `state`: utime is field 14, stime 15
    return int(fields[11]) / CLOCK_TICKS, int(fields[12]) / CLOCK_TICKS


def process_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a process (None once it is gone)."""
    times = process_times(pid)
    return None if times is None else sum(times)


def machine_ticks() -> tuple[int, int]:
    """(all, idle + iowait) CPU ticks of the machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(values), values[3] + values[4]


def busy_between(before: tuple[int, int], after: tuple[int, int]) -> float:
    total, idle = after[0] - before[0], after[1] - before[1]
    return 100.0 * (1 - idle / max(1, total))


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def percentile(values: list[float], fraction: float) -> float:
    """Nearest rank: the smallest value with at least `fraction` of the values at or below it."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, -(-len(ordered) * fraction // 1))
    return ordered[int(rank) - 1]


# --- the database ---------------------------------------------------------------------------------------


async def connect(url: str = DB_URL) -> asyncpg.Connection:
    return await asyncpg.connect(url, timeout=10)


async def create_database(opts: Options, env: dict[str, str]) -> tuple[int, str]:
    """`loyalty_pushes` dropped and re-created, migrated, one vendor (through the services: its key and
    programme are real) and, with SQL, `opts.cards` customers, cards and one device registration per card.
    Returns the vendor id and its API key."""
    await recreate_database(DB_NAME, env)
    vendor_id, program_id, key = await _vendor()
    salt = f"{random.getrandbits(64):016x}"
    connection = await connect()
    try:
        async with connection.transaction():
            await connection.execute(_CARDS_SQL, vendor_id, program_id, opts.cards, salt, DEV_PASS_TYPE_ID)
    finally:
        await connection.close()
    await asyncio.to_thread(
        subprocess.run, [str(VENV_BIN / "loyalty"), "db", "rebuild-totals"], env=env, check=True, capture_output=True
    )
    await settle()
    return vendor_id, key


async def _vendor() -> tuple[int, int, str]:
    settings = Settings(database_url=DB_URL, secret_key=SECRET_KEY)
    database = Database.from_url(DB_URL)
    try:
        async with database.unit_of_work() as session:
            ctx = Context(session, settings, SystemClock())
            vendor = await vendors.create_vendor(ctx, vendors.VendorCreate(name="Pushes bench", slug="pushes-bench"))
            issued = await api_keys.create_vendor_key(ctx, vendor.id, "bench counter")
            actor = Actor(vendor_id=vendor.id, api_key_id=issued.record.id)
            program = await programs.create_program(
                Context(session, settings, ctx.clock, actor),
                programs.ProgramCreate(
                    program_type=ProgramType.STAMPS,
                    name="Bench card",
                    cooldown_minutes=0,
                    max_daily_stamps=1000,
                    require_staff_pin=False,
                ),
            )
            await session.flush()
            return vendor.id, program.id, issued.secret
    finally:
        await database.dispose()


# $1 vendor, $2 programme, $3 cards, $4 salt, $5 pass type id. Tokens and serials are SHA-256 of the salt,
# a kind and the id: unique, and unguessable enough for a database thrown away at the end.
_CARDS_SQL = """
WITH customer AS (
    INSERT INTO customers (vendor_id, email, email_normalised, name, marketing_consent, created_at)
    SELECT $1, 'customer' || g || '@pushes.example', 'customer' || g || '@pushes.example', 'Customer ' || g,
           false, now()
    FROM generate_series(1, $3::int) g
    RETURNING id
), card AS (
    INSERT INTO loyalty_cards (vendor_id, program_id, customer_id, card_number, qr_code, card_token,
        stamp_count, total_stamps_earned, stamps_redeemed, points_balance, total_points_earned,
        total_points_redeemed, is_active, enrolled_at, updated_at, pass_serial_number, pass_authentication_token)
    SELECT $1, $2, c.id, '9' || lpad(c.id::text, 15, '0'),
           left(encode(sha256(convert_to($4 || ':qr:' || c.id, 'UTF8')), 'hex'), 48),
           left(encode(sha256(convert_to($4 || ':card:' || c.id, 'UTF8')), 'hex'), 48),
           0, 0, 0, 0, 0, 0, true, now(), now(),
           left(encode(sha256(convert_to($4 || ':serial:' || c.id, 'UTF8')), 'hex'), 48),
           left(encode(sha256(convert_to($4 || ':pass:' || c.id, 'UTF8')), 'hex'), 48)
    FROM customer c
    RETURNING id, pass_serial_number
)
INSERT INTO apple_device_registrations (vendor_id, card_id, device_library_identifier, push_token,
    pass_type_identifier, serial_number, created_at)
SELECT $1, card.id, 'bench-device-' || card.id, encode(sha256(convert_to($4 || ':push:' || card.id, 'UTF8')), 'hex'),
       $5, card.pass_serial_number, now()
FROM card
"""


async def settle() -> None:
    """The same starting state for every run: dead row versions vacuumed, the WAL checkpointed."""
    connection = await connect()
    try:
        await connection.execute("VACUUM ANALYZE")
        await connection.execute("CHECKPOINT")
    finally:
        await connection.close()


async def drop_database() -> None:
    admin = await connect(PG_ADMIN_URL)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    finally:
        await admin.close()


async def backend_cpu(connection: asyncpg.Connection) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend of `loyalty_pushes` but the harness's own."""
    pids = await connection.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", DB_NAME
    )
    found = {int(row["pid"]): process_cpu(int(row["pid"])) for row in pids}
    return {pid: cpu for pid, cpu in found.items() if cpu is not None}


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU spent between two readings by the processes alive at the second (one born in between: all of it)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


# --- the processes ---------------------------------------------------------------------------------------


def wallet_env(paths: DevCertificatePaths, apns_url: str) -> dict[str, str]:
    """The environment of every `loyalty` command here: this database, Apple Wallet on the development
    certificates, APNs = the local peer (trusted through the development root); every other setting
    at its default."""
    return server_env(
        {
            "LOYALTY_DATABASE_URL": DB_URL,
            "LOYALTY_APPLE_PASS_TYPE_ID": DEV_PASS_TYPE_ID,
            "LOYALTY_APPLE_TEAM_ID": DEV_TEAM_ID,
            "LOYALTY_APPLE_CERT": str(paths.pass_certificate),
            "LOYALTY_APPLE_KEY": str(paths.pass_key),
            "LOYALTY_APPLE_WWDR_CERT": str(paths.wwdr_certificate),
            "LOYALTY_APNS_URL": apns_url,
            "LOYALTY_APNS_CA_FILE": str(paths.root_certificate),
        }
    )


class PeerProcess:
    """bench/pushes/peer.py: the APNs peer in a process of its own, driven over its stdin and stdout."""

    def __init__(self, certificates: Path, log_path: Path, requests_per_connection: int) -> None:
        self.certificates = certificates
        self.requests_per_connection = requests_per_connection
        self.log_path = log_path
        self.proc: asyncio.subprocess.Process | None = None
        self.url = ""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self) -> None:
        with self.log_path.open("wb") as errors:
            self.proc = await asyncio.create_subprocess_exec(
                str(VENV_BIN / "python"),
                "-m",
                "bench.pushes.peer",
                str(self.certificates),
                str(self.requests_per_connection),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=errors,
                start_new_session=True,
            )
        self.url = await self._line(30)
        if not self.url.startswith("https://"):
            raise RuntimeError(f"the APNs peer did not start: {self.log_path.read_text()[-2000:]}")

    async def _line(self, within: float) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        return (await asyncio.wait_for(self.proc.stdout.readline(), within)).decode().strip()

    async def command(self, line: str) -> str:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        await self.proc.stdin.drain()
        answer = await self._line(60)
        if not answer or answer.startswith("error"):
            raise RuntimeError(f"the APNs peer answered {answer!r} to {line!r}; see {self.log_path}")
        return answer

    async def count(self) -> int:
        return int(await self.command("count"))

    async def records(self, path: Path) -> list[dict[str, object]]:
        await self.command(f"dump {path}")
        text = await asyncio.to_thread(path.read_text)
        return [json.loads(line) for line in text.splitlines()]

    async def stop(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 15)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            await self.proc.wait()


class WorkerProcess:
    """`loyalty worker` as an operator starts it, in a session of its own; stopped with SIGTERM."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        with log_path.open("wb") as out:
            self.proc = subprocess.Popen(
                [str(VENV_BIN / "loyalty"), "worker"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def started(self) -> bool:
        return self.log_path.exists() and '"worker_started"' in self.log_path.read_text(errors="replace")

    async def stop(self) -> int:
        """SIGTERM, then its exit status (the process group is killed after 30 s: nothing outlives a run)."""
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.to_thread(self.proc.wait, 30)
        except subprocess.TimeoutExpired:
            log(f"worker {self.pid} did not stop within 30 s: killing its process group")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            return await asyncio.to_thread(self.proc.wait)


async def wait_started(workers: list[WorkerProcess], within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not all(worker.started() for worker in workers):
        for worker in workers:
            if worker.proc.poll() is not None:
                raise RuntimeError(f"loyalty worker exited: {worker.log_path.read_text()[-2000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"loyalty worker did not start within {within:.0f} s")
        await asyncio.sleep(0.05)


# --- 1. drain ------------------------------------------------------------------------------------------------


@dataclass
class Drain:
    workers: int
    rows: int
    wall: float = 0.0  # the workers' start to the last row settled (`sent`), process start-up included
    span: float = 0.0  # first push to last push, at the peer
    rate: float = 0.0  # (pushes - 1) / span
    steady: float = 0.0  # the middle 80 % of the pushes over their span
    worker_cpu: float = 0.0  # ms per push, the middle 80 % of the run
    worker_system: float = 0.0  # of which in the kernel
    peer_cpu: float = 0.0
    postgres_cpu: float = 0.0
    busy: float = 0.0  # the machine's CPU busy %, the middle 80 % of the run
    load: str = ""
    failures: list[str] = field(default_factory=list)


@dataclass
class Sample:
    at: float
    count: int
    workers: dict[int, float]
    workers_system: dict[int, float]
    peer: dict[int, float]
    postgres: dict[int, float]
    machine: tuple[int, int]


async def drain(opts: Options, env: dict[str, str], peer: PeerProcess, label: str, workers: int) -> Drain:
    """`workers` worker processes drain `opts.rows` due rows, each one card with one registered device."""
    result = Drain(workers, opts.rows)
    connection = await connect()
    try:
        await connection.execute("DELETE FROM wallet_outbox")
        await connection.execute(
            "UPDATE apple_device_registrations SET last_push_at = NULL, last_push_status = NULL"
            " WHERE last_push_at IS NOT NULL"
        )
        await connection.execute(
            """
            INSERT INTO wallet_outbox (vendor_id, card_id, provider, pass_version, status, attempts, due_at, created_at)
            SELECT vendor_id, id, 'apple', updated_at, 'pending', 0, now() - interval '1 second', now()
            FROM loyalty_cards ORDER BY id LIMIT $1
            """,
            opts.rows,
        )
        await connection.execute("VACUUM ANALYZE wallet_outbox")
        await connection.execute("VACUUM ANALYZE apple_device_registrations")
        await connection.execute("CHECKPOINT")
        await peer.command("reset")
        result.load = load_average()
        started = time.monotonic()
        processes = [WorkerProcess(env, opts.work_dir / f"worker-{label}-{n}.log") for n in range(workers)]
        samples: list[Sample] = []
        try:
            deadline = started + 60 + opts.rows / 10
            while True:
                count = await peer.count()
                samples.append(
                    Sample(
                        time.monotonic(),
                        count,
                        {w.pid: process_cpu(w.pid) or 0.0 for w in processes},
                        {w.pid: (process_times(w.pid) or (0.0, 0.0))[1] for w in processes},
                        {peer.pid: process_cpu(peer.pid) or 0.0},
                        await backend_cpu(connection),
                        machine_ticks(),
                    )
                )
                if count >= opts.rows:
                    break
                if any(w.proc.poll() is not None for w in processes):
                    raise RuntimeError(f"a worker exited early; see {opts.work_dir}/worker-{label}-*.log")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{count} of {opts.rows} pushes within {deadline - started:.0f} s")
                await asyncio.sleep(SAMPLE_SECONDS)
            while await connection.fetchval("SELECT count(*) FROM wallet_outbox WHERE status = 'sent'") < opts.rows:
                if time.monotonic() > deadline:
                    raise RuntimeError("the pushes arrived but their rows were not all settled in time")
                await asyncio.sleep(0.02)
            result.wall = time.monotonic() - started
        finally:
            codes = [await w.stop() for w in processes]
        if any(codes):
            result.failures.append(f"worker exit statuses {codes} (SIGTERM must give 0)")
        statuses = Counter(
            str(row["status"])
            for row in await connection.fetch("SELECT status FROM wallet_outbox")  # every row, whatever its state
        )
    finally:
        await connection.close()
    if statuses != Counter({"sent": opts.rows}):
        result.failures.append(f"outbox rows by status: {dict(statuses)}, not {opts.rows} sent")
    records = await peer.records(opts.work_dir / f"peer-{label}.jsonl")
    _pushes(result, records, opts.rows)
    _window(result, samples, opts.rows)
    return result


def _pushes(result: Drain, records: list[dict[str, object]], expected: int) -> None:
    tokens = Counter(str(record["token"]) for record in records)
    answers = Counter(f"{record['status']} {record['reason'] or ''}".strip() for record in records)
    if len(records) != expected or len(tokens) != expected:
        result.failures.append(f"{len(records)} pushes to {len(tokens)} devices, not one to each of {expected}")
    if set(answers) != {"200"}:
        result.failures.append(f"peer answers {dict(answers)}")
    times = sorted(float(str(record["received_at"])) for record in records)
    if len(times) >= 2:
        result.span = times[-1] - times[0]
        result.rate = (len(times) - 1) / max(result.span, 1e-9)
        first, last = len(times) // 10, len(times) - 1 - len(times) // 10
        result.steady = (last - first) / max(times[last] - times[first], 1e-9)


def _window(result: Drain, samples: list[Sample], rows: int) -> None:
    """CPU per push and the machine's load over the samples between 10 % and 90 % of the pushes."""
    first = next((s for s in samples if s.count >= rows // 10), samples[0])
    last = next((s for s in samples if s.count >= rows - rows // 10), samples[-1])
    if last.count <= first.count:
        first, last = samples[0], samples[-1]
    pushes = max(1, last.count - first.count)
    result.worker_cpu = 1000 * cpu_delta(first.workers, last.workers) / pushes
    result.worker_system = 1000 * cpu_delta(first.workers_system, last.workers_system) / pushes
    result.peer_cpu = 1000 * cpu_delta(first.peer, last.peer) / pushes
    result.postgres_cpu = 1000 * cpu_delta(first.postgres, last.postgres) / pushes
    result.busy = busy_between(first.machine, last.machine)


# --- 2. lag ----------------------------------------------------------------------------------------------------


@dataclass
class Stamp:
    card_id: int
    due: float  # when it was to be sent (monotonic)
    sent: float = 0.0
    answered: float = 0.0
    status: int = 0


@dataclass
class Lag:
    rate: float
    stamps: int
    achieved: float = 0.0
    answered_201: int = 0
    pushes: int = 0
    stamp_p50: float = 0.0  # ms
    stamp_p99: float = 0.0
    late_max: float = 0.0  # ms: the latest send behind its schedule
    p50: float = 0.0  # s: the stamp's answer (after its commit) to its push at the peer
    p99: float = 0.0
    max: float = 0.0
    busy: float = 0.0
    load: str = ""
    failures: list[str] = field(default_factory=list)


async def lag(opts: Options, env: dict[str, str], peer: PeerProcess, key: str) -> Lag:
    """One `loyalty serve` and one `loyalty worker` (default settings); stamps at `opts.rate` per second on
    distinct cards; each stamp's answer to its push."""
    result = Lag(opts.rate, opts.stamps)
    connection = await connect()
    try:
        await connection.execute("DELETE FROM wallet_outbox")
        card_ids = [int(row["id"]) for row in await connection.fetch("SELECT id FROM loyalty_cards ORDER BY id")]
        tokens = {
            str(row["push_token"]): int(row["card_id"])
            for row in await connection.fetch("SELECT card_id, push_token FROM apple_device_registrations")
        }
    finally:
        await connection.close()
    await settle()
    await peer.command("reset")
    random.shuffle(card_ids)
    warm_up, measured = card_ids[:WARM_UP_STAMPS], card_ids[WARM_UP_STAMPS : WARM_UP_STAMPS + opts.stamps]
    server = Server(1, opts.work_dir, env)
    await asyncio.to_thread(server.__enter__)
    worker = WorkerProcess(env, opts.work_dir / "worker-lag.log")
    try:
        await wait_started([worker])
        headers = {"Authorization": f"Bearer {key}", "User-Agent": "loyalty-bench-pushes"}
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with httpx.AsyncClient(base_url=server.base, headers=headers, limits=limits, timeout=30) as client:
            # Warm-up: the server's first requests and the worker's APNs connection, outside the figures.
            await _paced(client, [Stamp(card, time.monotonic() + i / opts.rate) for i, card in enumerate(warm_up)])
            await _wait_for_pushes(peer, len(warm_up), COALESCE_SECONDS + 30)
            await peer.command("reset")
            result.load = load_average()
            before = machine_ticks()
            start = time.monotonic() + 0.1
            stamps = [Stamp(card, start + i / opts.rate) for i, card in enumerate(measured)]
            await _paced(client, stamps)
            ok = [s for s in stamps if s.status == 201]
            result.answered_201 = len(ok)
            await _wait_for_pushes(peer, len(ok), COALESCE_SECONDS + 30)
            result.busy = busy_between(before, machine_ticks())
        code = await worker.stop()
        if code:
            result.failures.append(f"worker exit status {code} (SIGTERM must give 0)")
    finally:
        if worker.proc.poll() is None:
            await worker.stop()
        await asyncio.to_thread(server.__exit__, None, None, None)
    records = await peer.records(opts.work_dir / "peer-lag.jsonl")
    _lag_figures(result, stamps, records, tokens)
    return result


async def _paced(client: httpx.AsyncClient, stamps: list[Stamp]) -> None:
    """Each stamp sent at its own time, whatever the previous ones are doing (an open loop)."""

    async def send(stamp: Stamp) -> None:
        stamp.sent = time.monotonic()
        try:
            answer = await client.post(STAMP, json={"card_id": stamp.card_id})
            stamp.status = answer.status_code
        except httpx.HTTPError as error:
            log(f"stamp on card {stamp.card_id}: {error!r}")
        stamp.answered = time.monotonic()

    tasks = []
    for stamp in stamps:
        await asyncio.sleep(max(0.0, stamp.due - time.monotonic()))
        tasks.append(asyncio.create_task(send(stamp)))
    await asyncio.gather(*tasks)


async def _wait_for_pushes(peer: PeerProcess, count: int, within: float) -> None:
    deadline = time.monotonic() + within
    while await peer.count() < count:
        if time.monotonic() > deadline:
            log(f"only {await peer.count()} of {count} pushes within {within:.0f} s")
            return
        await asyncio.sleep(0.1)


def _lag_figures(result: Lag, stamps: list[Stamp], records: list[dict[str, object]], tokens: dict[str, int]) -> None:
    pushed: dict[int, list[float]] = {}
    for record in records:
        card = tokens.get(str(record["token"]))
        if card is None or record["status"] != 200:
            result.failures.append(f"unexpected push {record}")
            continue
        pushed.setdefault(card, []).append(float(str(record["received_at"])))
    result.pushes = sum(len(times) for times in pushed.values())
    ok = [s for s in stamps if s.status == 201]
    if len(ok) != len(stamps):
        result.failures.append(f"{len(stamps) - len(ok)} stamps not answered 201: {Counter(s.status for s in stamps)}")
    lags = []
    for stamp in ok:
        times = pushed.get(stamp.card_id, [])
        if len(times) != 1:
            result.failures.append(f"card {stamp.card_id}: {len(times)} pushes, not 1")
            continue
        lags.append(times[0] - stamp.answered)
    if ok:
        result.achieved = (len(ok) - 1) / max(ok[-1].sent - ok[0].sent, 1e-9)
        latencies = [1000 * (s.answered - s.sent) for s in ok]
        result.stamp_p50, result.stamp_p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
        result.late_max = 1000 * max(s.sent - s.due for s in ok)
    if lags:
        result.p50, result.p99, result.max = percentile(lags, 0.5), percentile(lags, 0.99), max(lags)


# --- the report -------------------------------------------------------------------------------------------


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)) for row in [header, *rows]]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def report(drains: list[Drain], lagged: Lag | None) -> str:
    header = [
        "workers",
        "pushes",
        "start->drained s",
        "first->last push s",
        "pushes/s",
        "middle 80% /s",
        "ms CPU/push: worker (sys)",
        "peer",
        "PostgreSQL",
        "machine busy %",
        "load avg",
        "result",
    ]
    rows = [
        [
            str(d.workers),
            f"{d.rows:,}",
            f"{d.wall:.1f}",
            f"{d.span:.1f}",
            f"{d.rate:.0f}",
            f"{d.steady:.0f}",
            f"{d.worker_cpu:.2f} ({d.worker_system:.2f})",
            f"{d.peer_cpu:.2f}",
            f"{d.postgres_cpu:.2f}",
            f"{d.busy:.0f}",
            d.load,
            "FAIL" if d.failures else "pass",
        ]
        for d in drains
    ]
    text = "1. drain: due outbox rows, one device each, pushed by `loyalty worker` to the local APNs peer\n"
    text += _table(header, rows)
    if lagged is not None:
        c = COALESCE_SECONDS
        header = [
            "stamps/s asked",
            "achieved",
            "stamps",
            "pushes",
            "stamp p50/p99 ms",
            "lag p50 s",
            "p99 s",
            "max s",
            f"lag - {c} s: p50 ms",
            "p99 ms",
            "machine busy %",
            "load avg",
            "result",
        ]
        row = [
            f"{lagged.rate:.0f}",
            f"{lagged.achieved:.1f}",
            str(lagged.answered_201),
            str(lagged.pushes),
            f"{lagged.stamp_p50:.0f} / {lagged.stamp_p99:.0f}",
            f"{lagged.p50:.2f}",
            f"{lagged.p99:.2f}",
            f"{lagged.max:.2f}",
            f"{1000 * (lagged.p50 - c):.0f}",
            f"{1000 * (lagged.p99 - c):.0f}",
            f"{lagged.busy:.0f}",
            lagged.load,
            "FAIL" if lagged.failures else "pass",
        ]
        text += "\n\n2. lag: a stamp's answer (after its commit) to its push at the peer, one worker, default settings"
        text += "\n"
        text += _table(header, [row])
    failures = [f"{d.workers} worker(s): {f}" for d in drains for f in d.failures]
    failures += [f"lag: {f}" for f in (lagged.failures if lagged else [])[:20]]
    if failures:
        text += "\n\nFAILURES\n" + "\n".join(f"  - {f}" for f in failures)
    return text


# --- the run ---------------------------------------------------------------------------------------------------


def options(argv: list[str]) -> Options:
    parser = argparse.ArgumentParser(
        prog="bench/pushes/run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_ROWS:,} rows, {QUICK_LAG_SECONDS} s of stamps")
    parser.add_argument("--rows", type=int, help=f"due rows per drain (default {QUICK_ROWS:,} quick, {FULL_ROWS:,})")
    parser.add_argument("--rounds", type=int, default=1, help="drains with 1 then 2 workers, this many times")
    parser.add_argument("--rate", type=float, default=STAMP_RATE, help="stamps per second of phase 2")
    parser.add_argument(
        "--lag-seconds", type=int, help=f"seconds of stamps (default {QUICK_LAG_SECONDS} quick, {FULL_LAG_SECONDS})"
    )
    parser.add_argument(
        "--requests-per-connection",
        type=int,
        default=0,
        help="the peer closes a connection (GOAWAY) after this many requests, as hypercorn does after 1000 by "
        "default (default here: 0, never, as APNs documents no such cap)",
    )
    parser.add_argument("--keep-db", action="store_true", help=f"leave the {DB_NAME} database for inspection")
    args = parser.parse_args(argv)
    return Options(
        quick=args.quick,
        rows=args.rows or (QUICK_ROWS if args.quick else FULL_ROWS),
        rounds=args.rounds,
        rate=args.rate,
        lag_seconds=args.lag_seconds or (QUICK_LAG_SECONDS if args.quick else FULL_LAG_SECONDS),
        work_dir=Path(tempfile.mkdtemp(prefix="loyalty-pushes-")),
        keep_db=args.keep_db,
        requests_per_connection=args.requests_per_connection,
    )


async def _main(opts: Options) -> tuple[list[Drain], Lag | None]:
    paths = write_dev_certificates(opts.work_dir / "certificates")
    peer = PeerProcess(opts.work_dir / "certificates", opts.work_dir / "peer.log", opts.requests_per_connection)
    await peer.start()
    env = wallet_env(paths, peer.url)
    drains: list[Drain] = []
    lagged: Lag | None = None
    try:
        started = time.monotonic()
        _, key = await create_database(opts, env)
        log(f"database {DB_NAME}: {opts.cards:,} cards, one device each ({time.monotonic() - started:.0f} s)")
        for round_number in range(1, opts.rounds + 1):
            for workers in (1, 2):
                log(f"drain {opts.rows:,} rows with {workers} worker(s) ...")
                done = await drain(opts, env, peer, f"r{round_number}-w{workers}", workers)
                log(f"  {done.rate:.0f} pushes/s, {done.wall:.1f} s start to drained")
                drains.append(done)
        log(f"lag: {opts.stamps} stamps at {opts.rate:g}/s ...")
        lagged = await lag(opts, env, peer, key)
        log(f"  p50 {lagged.p50:.2f} s, p99 {lagged.p99:.2f} s")
    finally:
        await peer.stop()
        if not opts.keep_db:
            await drop_database()
    return drains, lagged


def main(argv: list[str]) -> int:
    opts = options(argv)
    log(f"raw outputs in {opts.work_dir}")
    busy, load = busy_cpu_percent(), load_average()
    log(f"machine: {os.cpu_count()} CPUs, {busy:.0f} % busy over 2 s before the run, load average {load}")
    started = time.monotonic()
    drains, lagged = asyncio.run(_main(opts))
    print(report(drains, lagged))
    print(
        f"\nmachine: {os.cpu_count()} CPUs; before the run {busy:.0f} % CPU busy (2 s), load average {load}; "
        f"wall time {time.monotonic() - started:.0f} s; raw outputs in {opts.work_dir}"
    )
    failed = any(d.failures for d in drains) or lagged is None or bool(lagged.failures)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
