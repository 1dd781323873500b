"""What every phase shares: the run's options, psql, the server under test, the results table."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = ROOT / ".venv" / "bin"
PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DB_NAME = "loyalty_bench"
BENCH_URL = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + DB_NAME
SECRET_KEY = "bench-secret-key-not-for-production"
HEALTH = "/api/v1/loyalty/health"


@dataclass(frozen=True)
class Options:
    quick: bool
    workers: int
    connections: int
    duration: int  # seconds per load phase
    rounds: int  # alternations of phases 1 and 2
    scale_cards: int
    scale_ledger: int
    scale_vendors: int
    bcrypt_rounds: int
    work_dir: Path
    profile: bool


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def psql(sql: str, *, url: str = BENCH_URL) -> str:
    """Runs SQL with psql (stop on the first error); returns the unaligned, tuples-only output."""
    done = subprocess.run(
        ["psql", url, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"psql failed: {done.stderr.strip()}\n--- SQL ---\n{sql[:2000]}")
    return done.stdout.strip()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOYALTY_")}
    env.update(LOYALTY_DATABASE_URL=BENCH_URL, LOYALTY_SECRET_KEY=SECRET_KEY)
    env.update(extra or {})
    return env


def wallet_env(work_dir: Path) -> dict[str, str]:
    """Both wallets configured, as `make demo` runs (development certificates, Google's calls dry): every
    stamp then queues its outbox rows, one per wallet, inside the measured transaction, as in production."""
    from loyalty.wallet import dev_certs

    directory = work_dir / "wallet-certificates"
    paths = dev_certs.paths_in(directory)
    if not paths.pass_certificate.exists():
        paths = dev_certs.write_dev_certificates(directory)
    return {
        "LOYALTY_APPLE_PASS_TYPE_ID": dev_certs.DEV_PASS_TYPE_ID,
        "LOYALTY_APPLE_TEAM_ID": dev_certs.DEV_TEAM_ID,
        "LOYALTY_APPLE_CERT": str(paths.pass_certificate),
        "LOYALTY_APPLE_KEY": str(paths.pass_key),
        "LOYALTY_APPLE_WWDR_CERT": str(paths.wwdr_certificate),
        "LOYALTY_GOOGLE_ISSUER_ID": dev_certs.DEV_GOOGLE_ISSUER_ID,
        "LOYALTY_GOOGLE_SERVICE_ACCOUNT_FILE": str(paths.google_service_account),
        "LOYALTY_GOOGLE_DRY_RUN": "true",
    }


def settle_database() -> None:
    """The same starting state for every load phase: the dead row versions the previous phase left
    (120,000 updates of the same 10,000 cards and 80 totals rows in a 30 s pgbench run) vacuumed
    away, and the WAL checkpointed, so no phase pays for the one before it."""
    psql("VACUUM ANALYZE")
    psql("CHECKPOINT")


def rebuild_totals() -> None:
    """Cards and ledger rows written with SQL bypass the vendors' running totals: recompute them the
    way an operator would after such a load."""
    command = [str(VENV_BIN / "loyalty"), "db", "rebuild-totals"]
    subprocess.run(command, env=server_env(), check=True, capture_output=True)


class Server:
    """`loyalty serve` as a user starts it, in a process group of its own so nothing outlives it."""

    def __init__(self, workers: int, work_dir: Path, env: dict[str, str] | None = None) -> None:
        self.workers = workers
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = work_dir / f"server-{self.port}.log"
        self.env = server_env({**wallet_env(work_dir), **(env or {})})
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        command = [str(VENV_BIN / "loyalty"), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        command += ["--workers", str(self.workers)]
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(
                command, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self._wait_healthy()
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"loyalty serve exited: {self.log_path.read_text()[-2000:]}")
            with contextlib.suppress(OSError), urllib.request.urlopen(self.base + HEALTH, timeout=2) as answer:
                if answer.status == 200 and len(self.worker_pids()) >= self.workers:
                    time.sleep(0.5)  # let every worker finish its start-up
                    return
            time.sleep(0.2)
        raise RuntimeError("loyalty serve did not become healthy within 60 s")

    def worker_pids(self) -> list[int]:
        """The uvicorn worker processes (the serving process itself when there is one worker)."""
        assert self.proc is not None
        if self.workers == 1:
            return [self.proc.pid]
        workers = []
        for pid in _children(self.proc.pid):
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            if b"resource_tracker" not in cmdline:
                workers.append(pid)
        return workers

    def __exit__(self, *_: object) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)  # uvicorn: graceful shutdown of every worker
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            log("loyalty serve did not stop within 30 s: killing its process group")
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # only what this server started
        self.proc.wait()


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            found += [int(child) for child in task.read_text().split()]
    return found


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far (/proc/PID/stat), 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def postgres_pids() -> list[int]:
    """Every process of the local PostgreSQL server (its backends, the WAL writer, the checkpointer …)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/comm"):
        with contextlib.suppress(OSError):
            if stat.read_text().strip() == "postgres":
                pids.append(int(stat.parent.name))
    return pids


class CpuMeter:
    """Where the CPU of a load phase went: the server's workers, PostgreSQL's processes, and the load
    generator (a child process of this one, counted when it is reaped). CPU time, not wall time: on a
    machine with fewer cores than busy processes a profiler counts a process waiting for a core as busy.
    Backends that start or end during the phase are missed (the pool keeps its connections open)."""

    def __init__(self, worker_pids: list[int]) -> None:
        self.groups = {"workers": worker_pids, "postgres": postgres_pids()}

    def __enter__(self) -> CpuMeter:
        self.before = {name: sum(map(process_cpu_seconds, pids)) for name, pids in self.groups.items()}
        self.children_before = _children_cpu_seconds()
        return self

    def __exit__(self, *_: object) -> None:
        self.used = {
            name: sum(map(process_cpu_seconds, pids)) - self.before[name] for name, pids in self.groups.items()
        }
        self.used["load generator"] = _children_cpu_seconds() - self.children_before


def _children_cpu_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def busy_cpu_percent(seconds: float = 2.0) -> float:
    """How busy the machine's CPUs are before we start: other work skews every figure."""

    def sample() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(values), values[3] + values[4]  # total, idle + iowait

    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return 100.0 * (1 - (idle1 - idle0) / max(1, total1 - total0))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def http_json(method: str, url: str, key: str, body: dict[str, object] | None = None) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", f"Bearer {key}")
    request.add_header("User-Agent", "loyalty-bench")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@dataclass
class Row:
    metric: str
    value: str
    target: str = ""
    ok: bool | None = None  # None: reported, no target


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)

    def add(self, metric: str, value: str, target: str = "", ok: bool | None = None) -> None:
        self.rows.append(Row(metric, value, target, ok))

    def table(self) -> str:
        widths = [max(len(getattr(r, name)) for r in self.rows) for name in ("metric", "value", "target")]
        widths = [max(w, len(h)) for w, h in zip(widths, ("metric", "value", "target"), strict=True)]
        lines = [f"{'metric':<{widths[0]}}  {'value':>{widths[1]}}  {'target':<{widths[2]}}  result"]
        lines.append("-" * len(lines[0]))
        for r in self.rows:
            verdict = "" if r.ok is None else ("pass" if r.ok else "FAIL")
            lines.append(f"{r.metric:<{widths[0]}}  {r.value:>{widths[1]}}  {r.target:<{widths[2]}}  {verdict}")
        return "\n".join(lines)


@contextlib.contextmanager
def timed(label: str) -> Iterator[None]:
    started = time.monotonic()
    log(f"{label} ...")
    yield
    log(f"{label}: {time.monotonic() - started:.1f} s")


async def recreate_database(name: str, env: dict[str, str]) -> None:
    """Drops the bench database `name` (closing its connections), creates it anew and migrates it with
    `loyalty db upgrade` run under `env` (whose LOYALTY_DATABASE_URL names it)."""
    admin = await asyncpg.connect(PG_ADMIN_URL, timeout=10)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    upgrade = [str(VENV_BIN / "loyalty"), "db", "upgrade"]
    await asyncio.to_thread(subprocess.run, upgrade, env=env, check=True, capture_output=True)
