"""What the fault scenarios share: the database, the servers under test, the HTTP clients with the
counter terminal's retry rule, seeding through the API, the ledger checks and the results table."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.common import PG_ADMIN_URL, SECRET_KEY, VENV_BIN, free_port, log, recreate_database, server_env

DB_NAME = "loyalty_faults"
FAULTS_URL = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + DB_NAME
HEALTH = "/api/v1/loyalty/health"
VENDOR = "/api/v1/vendor/loyalty"

# The service's bounded wait for a pooled connection (LOYALTY_DB_POOL_TIMEOUT_SECONDS, default 5; the
# servers here run with the default) and the margin a request may take beyond it.
BOUNDED_WAIT = 5.0
MARGIN = 3.0
SLOW_LIMIT = BOUNDED_WAIT + MARGIN
# The client's hard timeout per attempt: above SQLAlchemy's own 30 s pool wait, so a request stuck on
# the pool is seen answering (500 today) rather than cut off by the client. An attempt that reaches
# it is a hang.
HARD_TIMEOUT = 35.0

BCRYPT_ROUNDS = "4"  # PIN checks stay cheap: the scenarios are about faults, not bcrypt
WRONG_PIN = "0000"  # the PINs created here are 4100 + 7 i

# 400s a counter operation may legitimately end with under a random load.
BUSINESS_REFUSALS = {"INSUFFICIENT_STAMPS", "INSUFFICIENT_POINTS", "TRANSACTION_NOT_VOIDABLE"}


@dataclass(frozen=True)
class Options:
    quick: bool
    work_dir: Path
    restart_postgres: bool
    seed: int


# --- database -------------------------------------------------------------------------------------


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def connect(url: str = FAULTS_URL) -> asyncpg.Connection:
    return await asyncpg.connect(_asyncpg_dsn(url), timeout=10)


def faults_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of every `loyalty` command here: the faults database, cheap bcrypt, nothing
    else of the caller's LOYALTY_* settings (the pool settings stay at their defaults)."""
    env = server_env({"LOYALTY_DATABASE_URL": FAULTS_URL, "LOYALTY_BCRYPT_ROUNDS": BCRYPT_ROUNDS})
    env["LOYALTY_SECRET_KEY"] = SECRET_KEY
    env.update(extra or {})
    return env


async def create_database() -> str:
    """Drops and re-creates `loyalty_faults`, migrates it with `loyalty db upgrade` and returns a new
    admin key from `loyalty keys create-admin --name faults`."""
    await recreate_database(DB_NAME, faults_env())
    return await create_admin_key("faults")


async def create_admin_key(name: str) -> str:
    """`loyalty keys create-admin --name NAME`: the key alone on stdout."""
    done = await asyncio.to_thread(
        subprocess.run,
        [str(VENV_BIN / "loyalty"), "keys", "create-admin", "--name", name],
        env=faults_env(),
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


async def drop_database() -> None:
    admin = await connect(PG_ADMIN_URL)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    finally:
        await admin.close()


# --- the server under test ------------------------------------------------------------------------


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, pgrp) of a process, or None once it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[2])


def _alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


def process_tree(root: int) -> list[int]:
    """`root`, every process in its process group and every descendant (a /proc walk, no psutil)."""
    table: dict[int, tuple[str, int, int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            table[int(entry.name)] = stat
    found = {root} | {pid for pid, (_, _, pgrp) in table.items() if pgrp == root}
    grew = True
    while grew:
        children = {pid for pid, (_, ppid, _) in table.items() if ppid in found} - found
        found |= children
        grew = bool(children)
    return sorted(pid for pid in found if pid in table and table[pid][0] not in ("Z", "X"))


class ServerProcess:
    """`loyalty serve --workers N --port P` as a user starts it, in a session of its own, restartable on
    the same port after a `kill -9`. Its stdout and stderr (the request log and any traceback) go to
    one log file that every restart appends to."""

    def __init__(self, name: str, work_dir: Path, *, workers: int = 2, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.workers = workers
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = work_dir / f"server-{name}-{self.port}.log"
        self.env = faults_env(env)
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def command(self) -> list[str]:
        loyalty = str(VENV_BIN / "loyalty")
        return [loyalty, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(self.workers)]

    async def start(self, limit: float = 60.0) -> float:
        """Starts the server and waits until it answers its health check; returns the seconds taken."""
        started = time.monotonic()
        deadline = started + limit
        while True:
            self._launch()
            if await self._wait_healthy(deadline):
                return time.monotonic() - started
            # It exited (the port still held by a dying process, say): try again within the deadline.
            if time.monotonic() >= deadline:
                tail = self.log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"server {self.name} did not start within {limit:.0f} s:\n{tail}")
            await asyncio.sleep(0.3)

    def _launch(self) -> None:
        self.starts += 1
        with open(self.log_path, "ab") as out:
            out.write(f"\n=== faults: start {self.starts} of {self.name} on port {self.port} ===\n".encode())
            out.flush()
            self.proc = subprocess.Popen(
                self.command(), env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    async def _wait_healthy(self, deadline: float) -> bool:
        assert self.proc is not None
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    return False
                with contextlib.suppress(httpx.HTTPError):
                    answer = await client.get(self.base + HEALTH)
                    if answer.status_code == 200 and len(self.worker_pids()) >= self.workers:
                        return True
                await asyncio.sleep(0.1)
        if self.proc.poll() is None:
            self.kill9()
        raise RuntimeError(f"server {self.name} did not become healthy in time; see {self.log_path}")

    def worker_pids(self) -> list[int]:
        assert self.proc is not None
        if self.workers == 1:
            return [self.proc.pid]
        workers = []
        for pid in process_tree(self.proc.pid):
            if pid == self.proc.pid:
                continue
            with contextlib.suppress(OSError):
                if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                    workers.append(pid)
        return workers

    def kill9(self) -> list[int]:
        """`kill -9` the supervisor and every worker at once; returns the pids killed."""
        assert self.proc is not None
        pids = process_tree(self.proc.pid)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.02)
        left = [pid for pid in pids if _alive(pid)]
        if left:
            raise RuntimeError(f"server {self.name}: processes {left} survived SIGKILL")
        return pids

    def stop(self) -> None:
        """A graceful stop (SIGTERM), then SIGKILL for whatever is left of this server's group."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                log(f"server {self.name} did not stop within 30 s: killing its process group")
        for pid in process_tree(self.proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait()


# --- HTTP -----------------------------------------------------------------------------------------


def new_client(connections: int, timeout: float = HARD_TIMEOUT) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=2.0), limits=limits, headers={"User-Agent": "loyalty-faults"}
    )


class ApiError(RuntimeError):
    pass


async def api(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    key: str | None,
    body: dict[str, Any] | None = None,
    *,
    expect: Iterable[int] = (200, 201),
) -> Any:
    """One set-up call; raises unless the status is expected. Returns the JSON answer."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    answer = await client.request(method, url, json=body, headers=headers)
    if answer.status_code not in set(expect):
        raise ApiError(f"{method} {url} answered {answer.status_code}: {answer.text[:500]}")
    return answer.json() if answer.content else None


@dataclass
class Outcome:
    """One logical operation (one Idempotency-Key) and every attempt it took."""

    key: str
    op: str
    route: str  # the route template, e.g. POST /api/v1/vendor/loyalty/stamp
    started: float
    finished: float = 0.0
    status: int | None = None  # the final HTTP status; None: no HTTP answer at all (gave up)
    error_code: str | None = None
    body: Any = None
    transaction_id: int | None = None
    attempts: int = 0
    statuses: list[int] = field(default_factory=list)  # every HTTP status received, in order
    transport_errors: list[str] = field(default_factory=list)
    max_attempt: float = 0.0  # the longest single attempt that got an answer (seconds)
    last_sent: float = 0.0  # when the last attempt left
    timeouts: int = 0  # attempts cut off by the client's hard timeout
    retry_after_missing: int = 0  # 503s without a Retry-After header
    slow_503: list[float] = field(default_factory=list)  # how long each 503 attempt took
    request_ids: list[str] = field(default_factory=list)  # X-Request-ID of 5xx answers

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True)
class RetryRule:
    """The counter terminal's rule: a dropped connection, a connection error or a 503 is retried
    with the same Idempotency-Key after a short backoff, a bounded number of times."""

    attempts: int = 1
    budget: float = 60.0  # seconds from the first send after which the client gives up
    retry_503: bool = True


NO_RETRY = RetryRule(attempts=1)


async def send(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    route: str,
    *,
    op: str,
    key: str,
    api_key: str | None,
    body: dict[str, Any] | None = None,
    rule: RetryRule = NO_RETRY,
) -> Outcome:
    """Sends one operation with its Idempotency-Key, retrying under `rule` with the same key and body."""
    headers = {"Idempotency-Key": key}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    outcome = Outcome(key=key, op=op, route=route, started=time.monotonic())
    backoff = 0.05
    answered_last = False
    while outcome.attempts < rule.attempts:
        outcome.attempts += 1
        sent = outcome.last_sent = time.monotonic()
        retry_in: float | None = None
        answered_last = False
        try:
            answer = await client.request(method, url, json=body, headers=headers)
        except httpx.TimeoutException as exc:
            outcome.timeouts += 1
            outcome.transport_errors.append(type(exc).__name__)
            retry_in = backoff
        except httpx.TransportError as exc:
            outcome.transport_errors.append(type(exc).__name__)
            retry_in = backoff
        else:
            answered_last = True
            elapsed = time.monotonic() - sent
            outcome.max_attempt = max(outcome.max_attempt, elapsed)
            outcome.status = answer.status_code
            outcome.statuses.append(answer.status_code)
            outcome.body = _json_or_text(answer)
            outcome.error_code = outcome.body.get("error_code") if isinstance(outcome.body, dict) else None
            if answer.status_code >= 500:
                outcome.request_ids.append(answer.headers.get("x-request-id", "?"))
            if answer.status_code == 503:
                outcome.slow_503.append(elapsed)
                if "retry-after" not in answer.headers:
                    outcome.retry_after_missing += 1
                if rule.retry_503:
                    retry_in = max(backoff, min(_retry_after(answer), 1.0))
        if retry_in is None:
            break
        if time.monotonic() + retry_in - outcome.started > rule.budget or outcome.attempts >= rule.attempts:
            break
        await asyncio.sleep(retry_in * random.uniform(0.8, 1.2))
        backoff = min(backoff * 2, 0.5)
    outcome.finished = time.monotonic()
    if outcome.ok and isinstance(outcome.body, dict):
        found = outcome.body.get("transaction_id", outcome.body.get("id"))
        outcome.transaction_id = found if isinstance(found, int) else None
    if not answered_last:
        outcome.status = None  # the last attempt got no HTTP answer: the outcome is unknown
    return outcome


def _json_or_text(answer: httpx.Response) -> Any:
    try:
        return answer.json()
    except ValueError:
        return answer.text[:300]


def _retry_after(answer: httpx.Response) -> float:
    try:
        return float(answer.headers.get("retry-after", "0.2"))
    except ValueError:
        return 0.2


# --- seeding through the API ----------------------------------------------------------------------

REWARDS = [{"name": "Coffee", "points_required": 10}, {"name": "Cake", "points_required": 40}]


@dataclass(frozen=True)
class Tenant:
    vendor_id: int
    slug: str
    key: str
    program_id: int
    pins: list[str]  # staff PINs, one per counter terminal
    card_ids: list[int]
    reward_ids: list[int]
    stamps_target: int


def program_body(name: str, *, stamps_target: int = 5, require_pin: bool = True) -> dict[str, Any]:
    """A hybrid programme whose rules never refuse a stamp: no cooldown, the highest daily limit
    (1000 a card a day, the API's bound)."""
    return {
        "program_type": "hybrid",
        "name": name,
        "stamps_target": stamps_target,
        "stamps_reward_description": "A free coffee",
        "points_per_euro": 1,
        "points_rewards": REWARDS,
        "cooldown_minutes": 0,
        "max_daily_stamps": 1000,
        "require_staff_pin": require_pin,
    }


async def seed_vendor(
    client: httpx.AsyncClient,
    base: str,
    admin_key: str,
    slug: str,
    *,
    cards: int,
    pins: int = 1,
    stamps_target: int = 5,
) -> Tenant:
    """A vendor, its API key, a programme, `pins` staff PINs and `cards` cards, all through the API."""
    admin = f"{base}/api/v1/admin/loyalty"
    vendor = await api(client, "POST", f"{admin}/vendors", admin_key, {"name": f"Faults {slug}", "slug": slug})
    issued = await api(client, "POST", f"{admin}/vendors/{vendor['id']}/api-keys", admin_key, {"name": "faults"})
    key = str(issued["key"])
    program = await api(
        client, "POST", f"{base}{VENDOR}/program", key, program_body(f"{slug} card", stamps_target=stamps_target)
    )
    pin_values = [f"{4100 + index * 7:04d}" for index in range(pins)]
    for index, pin in enumerate(pin_values):
        await api(client, "POST", f"{base}{VENDOR}/pins", key, {"name": f"Staff {index}", "pin": pin})
    semaphore = asyncio.Semaphore(16)

    async def card(index: int) -> int:
        async with semaphore:
            body = {"email": f"c{index}@{slug}.faults.example", "name": f"Customer {index}"}
            made = await api(client, "POST", f"{base}{VENDOR}/cards", key, body)
            return int(made["id"])

    card_ids = list(await asyncio.gather(*(card(i) for i in range(cards))))
    reward_ids = [int(r["id"]) for r in program["points_rewards"]]
    return Tenant(int(vendor["id"]), slug, key, int(program["id"]), pin_values, card_ids, reward_ids, stamps_target)


# --- checks against the database ------------------------------------------------------------------


@dataclass
class LedgerReport:
    acknowledged: int = 0
    lost: list[str] = field(default_factory=list)  # acknowledged, no ledger row
    duplicated: list[str] = field(default_factory=list)  # more than one ledger row for one key
    mismatched: list[str] = field(default_factory=list)  # the row's id is not the acknowledged id
    orphans: list[str] = field(default_factory=list)  # a row no client acknowledged
    refused_with_row: list[str] = field(default_factory=list)  # final answer non-2xx, yet a row
    unknown_with_row: list[str] = field(default_factory=list)  # no HTTP answer at all, yet a row
    balance_mismatches: list[str] = field(default_factory=list)
    totals_mismatches: list[str] = field(default_factory=list)

    def failures(self) -> list[str]:
        found = []
        for label, items in (
            ("acknowledged but not in the ledger (lost)", self.lost),
            ("in the ledger more than once (duplicated)", self.duplicated),
            ("acknowledged with another transaction id than the ledger row", self.mismatched),
            ("ledger rows no client acknowledged (orphans)", self.orphans),
            ("ledger rows of requests answered non-2xx", self.refused_with_row),
            ("ledger rows of requests that never got an HTTP answer", self.unknown_with_row),
            ("cards whose balance is not the sum of their ledger deltas", self.balance_mismatches),
            ("vendors whose running totals disagree with their cards and ledger", self.totals_mismatches),
        ):
            if items:
                found.append(f"{len(items)} {label}: {'; '.join(items[:8])}{' ...' if len(items) > 8 else ''}")
        return found

    @property
    def orphan_count(self) -> int:
        return len(self.orphans) + len(self.refused_with_row) + len(self.unknown_with_row)


async def check_ledger(
    vendor_ids: Sequence[int], outcomes: Sequence[Outcome], *, ignore_notes: Iterable[str] = ()
) -> LedgerReport:
    """Every ledger row of these vendors carries its request's Idempotency-Key in `notes` (a void's
    `reason`): each acknowledged answer must be exactly one row with the answered id, and each row
    must belong to an acknowledged answer (rows whose notes are in `ignore_notes`, written with SQL
    before the load, are left out). Then the ledger invariant on every card and the vendors'
    running totals."""
    report = LedgerReport()
    connection = await connect()
    try:
        rows = await connection.fetch(
            "SELECT id, card_id, notes, transaction_type FROM loyalty_transactions WHERE vendor_id = ANY($1::int[])",
            list(vendor_ids),
        )
        balances = await connection.fetch(
            """
            SELECT c.id, c.stamp_count, c.points_balance,
                   coalesce(sum(t.stamps_delta), 0) AS stamps, coalesce(sum(t.points_delta), 0) AS points
            FROM loyalty_cards c LEFT JOIN loyalty_transactions t ON t.card_id = c.id
            GROUP BY c.id
            HAVING c.stamp_count <> coalesce(sum(t.stamps_delta), 0)
                OR c.points_balance <> coalesce(sum(t.points_delta), 0)
            """
        )
        totals = await connection.fetch(
            """
            SELECT v.id,
                   (SELECT coalesce(sum(entries), 0) FROM vendor_totals WHERE vendor_id = v.id) AS entries,
                   (SELECT count(*) FROM loyalty_transactions WHERE vendor_id = v.id) AS rows,
                   (SELECT coalesce(sum(cards), 0) FROM vendor_totals WHERE vendor_id = v.id) AS cards,
                   (SELECT count(*) FROM loyalty_cards WHERE vendor_id = v.id) AS card_rows
            FROM vendors v WHERE v.id = ANY($1::int[])
            """,
            list(vendor_ids),
        )
    finally:
        await connection.close()
    by_key: dict[str, list[int]] = {}
    skip = set(ignore_notes)
    for row in rows:
        if row["notes"] in skip:
            continue
        by_key.setdefault(row["notes"] or "<no notes>", []).append(int(row["id"]))
    outcomes_by_key = {o.key: o for o in outcomes}
    for outcome in outcomes:
        if not outcome.ok:
            continue
        report.acknowledged += 1
        ids = by_key.get(outcome.key, [])
        if not ids:
            report.lost.append(f"{outcome.route} key={outcome.key} transaction_id={outcome.transaction_id}")
        elif len(ids) > 1:
            report.duplicated.append(f"{outcome.route} key={outcome.key} rows={ids}")
        elif ids[0] != outcome.transaction_id:
            report.mismatched.append(
                f"{outcome.route} key={outcome.key} answered={outcome.transaction_id} row={ids[0]}"
            )
    for key, ids in by_key.items():
        found = outcomes_by_key.get(key)
        if found is None:
            report.orphans.append(f"key={key} rows={ids}")
        elif found.status is None or (not found.ok and found.transport_errors):
            report.unknown_with_row.append(f"{found.route} key={key} rows={ids} errors={found.transport_errors[-3:]}")
        elif not found.ok:
            report.refused_with_row.append(f"{found.route} key={key} answered {found.status} rows={ids}")
    for row in balances:
        report.balance_mismatches.append(
            f"card {row['id']}: stamp_count {row['stamp_count']} vs Σ {row['stamps']}, "
            f"points_balance {row['points_balance']} vs Σ {row['points']}"
        )
    for row in totals:
        if row["entries"] != row["rows"] or row["cards"] != row["card_rows"]:
            report.totals_mismatches.append(
                f"vendor {row['id']}: entries {row['entries']} vs {row['rows']} rows, "
                f"cards {row['cards']} vs {row['card_rows']}"
            )
    return report


# --- the server's log -----------------------------------------------------------------------------

_REQUEST_LINE = re.compile(r'\{"event": "request".*\}')
_UNHANDLED = re.compile(r"unhandled error on (\S+) (\S+) \(request (\S+)\)")
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Timeout|Exit|Cancelled)\b.*")


@dataclass
class ServerLog:
    statuses: Counter[tuple[str, str, int]]  # (method, path, status) -> requests
    errors: Counter[str]  # "METHOD path: exception line" -> count, from the service's "unhandled error" lines
    examples: dict[str, str]  # the same key -> a request id and the last frames of its traceback
    other: Counter[str]  # other ERROR/CRITICAL lines and bare tracebacks, with their exception line

    def server_error_lines(self) -> list[str]:
        lines = []
        for (method, path, status), count in sorted(self.statuses.items()):
            if status >= 500:
                lines.append(f"server log: {count} x {status} on {method} {path}")
        for key, count in self.errors.most_common():
            lines.append(f"server log: {count} x unhandled error on {key}\n        e.g. {self.examples[key]}")
        lines += [f"server log: {count} x {line}" for line, count in self.other.most_common(10)]
        return lines


def read_server_log(path: Path, offset: int = 0) -> ServerLog:
    text = path.read_text(errors="replace")[offset:] if path.exists() else ""
    log = ServerLog(Counter(), Counter(), {}, Counter())
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if match := _REQUEST_LINE.search(line):
            with contextlib.suppress(ValueError, KeyError):
                entry = json.loads(match.group(0))
                log.statuses[(str(entry["method"]), str(entry["path"]), int(entry["status"]))] += 1
        elif unhandled := _UNHANDLED.search(line):
            method, request_path, request_id = unhandled.groups()
            block = _traceback_after(lines, index - 1)
            index += len(block)
            key = f"{method} {_template(request_path)}: {_exception(block)}"
            log.errors[key] += 1
            if key not in log.examples:
                frames = [b.strip() for b in block if b.strip().startswith("File ")]
                ours = [f for f in frames if "/loyalty/" in f and "site-packages" not in f][-2:]
                shown = [*ours, *frames[-1:]] if frames and frames[-1] not in ours else ours
                log.examples[key] = f"request {request_id}; frames: {' | '.join(shown)}"
        elif line.startswith(("ERROR", "CRITICAL", "Traceback")):
            block = _traceback_after(lines, index - 1)
            index += len(block)
            first = line.strip() if not line.startswith("Traceback") else "traceback"
            log.other[f"{first[:150]}: {_exception(block)}" if block else first[:300]] += 1
    return log


_NUMBER_SEGMENT = re.compile(r"/\d+(?=/|$)")


def _template(path: str) -> str:
    """Numbers in a logged path stand for a path parameter: `/transactions/123/void` -> `/transactions/{n}/void`."""
    return _NUMBER_SEGMENT.sub("/{n}", path)


def _exception(block: list[str]) -> str:
    found = [b for b in block if _EXCEPTION_LINE.match(b)]
    return (found[-1] if found else (block[-1] if block else "?")).strip()[:300]


def _traceback_after(lines: list[str], index: int) -> list[str]:
    """The traceback (possibly chained) printed after line `index`."""
    block: list[str] = []
    seen_exception = False
    for line in lines[index + 1 : index + 800]:
        stripped = line.strip()
        if _REQUEST_LINE.search(line) or _UNHANDLED.search(line) or line.startswith(("INFO", "ERROR", "WARN", "===")):
            break
        if not stripped:
            block.append(line)
        elif line[0] in " \t|+" or stripped.startswith(("Traceback", "During handling", "The above exception")):
            seen_exception = False
            block.append(line)
        elif seen_exception:
            break
        else:
            block.append(line)  # the exception line of this part of the chain
            seen_exception = True
    return block


def log_offset(path: Path) -> int:
    return len(path.read_text(errors="replace")) if path.exists() else 0


# --- results --------------------------------------------------------------------------------------


@dataclass
class Row:
    scenario: str
    ops: int = 0
    acknowledged: int | None = None
    lost: int | None = None
    duplicated: int | None = None
    orphans: int | None = None
    server_errors: int = 0  # 5xx answers received, every attempt counted
    unavailable: int = 0  # of which 503
    hangs: int = 0  # attempts over the bounded wait + margin, or cut off by the hard timeout
    max_latency: float = 0.0
    recovery: float | None = None
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


COLUMNS = ["scenario", "ops", "acked", "lost", "dup", "orphan", "5xx", "503", "hang", "max lat s", "recov s", "result"]


def _cell(value: int | float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def table(rows: Sequence[Row]) -> str:
    cells = [
        [
            r.scenario,
            _cell(r.ops),
            _cell(r.acknowledged),
            _cell(r.lost),
            _cell(r.duplicated),
            _cell(r.orphans),
            _cell(r.server_errors),
            _cell(r.unavailable),
            _cell(r.hangs),
            _cell(r.max_latency, 2),
            _cell(r.recovery, 1),
            "pass" if r.ok else "FAIL",
        ]
        for r in rows
    ]
    widths = [max(len(c[i]) for c in [COLUMNS, *cells]) for i in range(len(COLUMNS))]

    def line(values: list[str]) -> str:
        pairs = enumerate(zip(values, widths, strict=True))
        return "  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in pairs)

    lines = [line(COLUMNS), "-" * len(line(COLUMNS))]
    lines += [line(c) for c in cells]
    return "\n".join(lines)


def summarise_outcomes(
    row: Row, outcomes: Sequence[Outcome], *, allowed: dict[int, set[str] | None], count_ops: bool = True
) -> None:
    """Fills a row's 5xx, 503, hang and latency figures from the clients' outcomes, and adds a failure
    for every 500 (any 5xx but 503), hang, 503 without Retry-After, and final status not in `allowed`
    (status -> the error codes allowed with it, None for any)."""
    if count_ops:
        row.ops += len(outcomes)
    by_route_status: Counter[tuple[str, int]] = Counter()
    unexpected: Counter[tuple[str, int, str]] = Counter()
    timeouts: Counter[str] = Counter()
    slow: Counter[str] = Counter()
    gave_up: Counter[str] = Counter()
    request_ids: dict[tuple[str, int], list[str]] = {}
    for outcome in outcomes:
        row.max_latency = max(row.max_latency, outcome.max_attempt)
        for status in outcome.statuses:
            if status >= 500:
                row.server_errors += 1
                by_route_status[(outcome.route, status)] += 1
                request_ids.setdefault((outcome.route, status), []).extend(outcome.request_ids)
            if status == 503:
                row.unavailable += 1
        if outcome.timeouts:
            timeouts[outcome.route] += outcome.timeouts
            row.hangs += outcome.timeouts
        if outcome.max_attempt > SLOW_LIMIT:
            slow[outcome.route] += 1
            row.hangs += 1
        if outcome.retry_after_missing:
            row.failures.append(f"{outcome.route}: 503 without Retry-After (key {outcome.key})")
        if outcome.status is None:
            gave_up[outcome.route] += 1
            continue
        codes = allowed.get(outcome.status, set())
        refused = outcome.status not in allowed or (codes is not None and outcome.error_code not in codes)
        if refused and (outcome.status < 500 or outcome.status == 503):  # other 5xx: reported below, by route
            unexpected[(outcome.route, outcome.status, str(outcome.error_code))] += 1
    for (route, status), count in sorted(by_route_status.items()):
        if status != 503:
            ids = ", ".join(request_ids.get((route, status), [])[:3])
            row.failures.append(f"{count} x {status} on {route} (X-Request-ID e.g. {ids})")
    for (route, status, code), count in sorted(unexpected.items()):
        row.failures.append(f"{count} final answers {status} {code} on {route} (not expected here)")
    for route, count in sorted(timeouts.items()):
        row.failures.append(f"{count} attempts on {route} got no answer within {HARD_TIMEOUT:.0f} s (hang)")
    for route, count in sorted(slow.items()):
        worst = max(o.max_attempt for o in outcomes if o.route == route)
        row.failures.append(
            f"{count} requests on {route} took longer than {SLOW_LIMIT:.0f} s "
            f"(bounded wait {BOUNDED_WAIT:.0f} s + {MARGIN:.0f} s margin; worst {worst:.1f} s)"
        )
    for route, count in sorted(gave_up.items()):
        row.failures.append(f"{count} requests on {route} never got an HTTP answer within the retry budget")


def add_ledger(row: Row, report: LedgerReport) -> None:
    row.acknowledged = report.acknowledged
    row.lost = len(report.lost)
    row.duplicated = len(report.duplicated)
    row.orphans = report.orphan_count
    row.failures += report.failures()


def add_server_log(row: Row, server: ServerProcess, offset: int = 0) -> None:
    """Adds the 5xx the server itself logged, and their tracebacks, to the row's failure details."""
    found = read_server_log(server.log_path, offset)
    lines = found.server_error_lines()
    five_hundreds = sum(c for (_, _, status), c in found.statuses.items() if status >= 500 and status != 503)
    if five_hundreds or found.errors or found.other:
        row.failures += [f"[{server.name}] {line}" for line in lines]
    elif lines:
        row.notes += [f"[{server.name}] {line}" for line in lines]
