"""Phase 1: pgbench runs a stamp transaction, with prepared statements like asyncpg, at the HTTP phase's
concurrency, over every card: the fixed reference (reference.py) and the service's own statements
(statements.py, the own-SQL ceiling)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from bench.common import BENCH_URL, log


def run_pgbench(script: str, clients: int, duration: int, work_dir: Path, name: str = "stamp") -> dict[str, float]:
    """pgbench's rate (`tps`, transactions per second) and mean latency (`latency_ms`) for `script`, saved as
    `{name}.pgbench.sql` with pgbench's output in `{name}.pgbench.out`. Raises RuntimeError on any failure."""
    path = work_dir / f"{name}.pgbench.sql"
    path.write_text(script)
    command = ["pgbench", "-n", "-M", "prepared", "-c", str(clients), "-j", "2", "-T", str(duration)]
    command += ["-f", str(path), BENCH_URL]
    done = subprocess.run(command, capture_output=True, text=True)
    (work_dir / f"{name}.pgbench.out").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise RuntimeError(f"pgbench failed ({done.returncode}): {done.stderr[-2000:]}")
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", done.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", done.stdout)
    latency = re.search(r"latency average = ([\d.]+) ms", done.stdout)
    if tps is None or latency is None:
        raise RuntimeError(f"cannot read pgbench's output: {done.stdout[-1000:]}")
    if failed and int(failed.group(1)):
        raise RuntimeError(f"pgbench: {failed.group(1)} failed transactions; see {work_dir / f'{name}.pgbench.out'}")
    log(f"pgbench {name}: {float(tps.group(1)):.0f} stamps/s, mean latency {latency.group(1)} ms")
    return {"tps": float(tps.group(1)), "latency_ms": float(latency.group(1))}
