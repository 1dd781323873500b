"""Phase 1: the SQL ceiling. pgbench replays the statements of one stamp (statements.py), in one
transaction, with prepared statements like asyncpg, at the HTTP phase's concurrency, over every card."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from bench.common import BENCH_URL, log


def run_pgbench(script: str, clients: int, duration: int, work_dir: Path) -> dict[str, float]:
    path = work_dir / "stamp.pgbench.sql"
    path.write_text(script)
    command = ["pgbench", "-n", "-M", "prepared", "-c", str(clients), "-j", "2", "-T", str(duration)]
    command += ["-f", str(path), BENCH_URL]
    done = subprocess.run(command, capture_output=True, text=True)
    (work_dir / "pgbench.out").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise RuntimeError(f"pgbench failed ({done.returncode}): {done.stderr[-2000:]}")
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", done.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", done.stdout)
    latency = re.search(r"latency average = ([\d.]+) ms", done.stdout)
    if tps is None or latency is None:
        raise RuntimeError(f"cannot read pgbench's output: {done.stdout[-1000:]}")
    if failed and int(failed.group(1)):
        raise RuntimeError(f"pgbench: {failed.group(1)} failed transactions; see {work_dir / 'pgbench.out'}")
    log(f"pgbench: {float(tps.group(1)):.0f} stamps/s, mean latency {latency.group(1)} ms")
    return {"tps": float(tps.group(1)), "latency_ms": float(latency.group(1))}
