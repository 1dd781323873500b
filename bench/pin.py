"""Phase 4: stamps with a staff PIN against the raw bcrypt rate of this machine.

Raw: one process per core, each calling `bcrypt.checkpw` on a hash of the service's cost factor.
Service: wrk on the PIN vendors' cards with `staff_pin`. At a few checks a second, wrk's own count
would be skewed by the requests still in flight when it stops, so the rate is counted in the
database instead: PIN-approved ledger rows written during the middle of the run, divided by its length.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import bcrypt

from bench import http_load
from bench.common import log, psql
from bench.seed import PIN, Group


def _checks(args: tuple[bytes, float]) -> float:
    """One process's checks per second, timed from its own first check (process start-up excluded)."""
    hashed, seconds = args
    count, started = 0, time.monotonic()
    while time.monotonic() - started < seconds:
        if not bcrypt.checkpw(PIN.encode(), hashed):
            raise RuntimeError("bcrypt.checkpw refused the right PIN")
        count += 1
    return count / (time.monotonic() - started)


def raw_bcrypt_rate(rounds: int, seconds: float) -> float:
    cores = os.cpu_count() or 1
    hashed = bcrypt.hashpw(PIN.encode(), bcrypt.gensalt(rounds=rounds))
    with multiprocessing.get_context("spawn").Pool(cores) as pool:
        rate = sum(pool.map(_checks, [(hashed, seconds)] * cores))
    log(f"raw bcrypt (cost {rounds}, {cores} processes): {rate:.2f} checks/s")
    return rate


def _pin_rows(group: Group) -> int:
    last = group.first_vendor + len(group.keys) - 1
    sql = f"SELECT count(*) FROM loyalty_transactions WHERE vendor_id BETWEEN {group.first_vendor} AND {last}"
    return int(psql(sql + " AND staff_pin_id IS NOT NULL"))


def pin_stamp_rate(base: str, group: Group, *, connections: int, duration: int, work_dir: Path) -> dict[str, Any]:
    script = http_load.write_script(group, work_dir / "pin.lua", threads=2, staff_pin=PIN)
    command = http_load.wrk_command(base, script, connections=connections, duration=duration)
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as wrk:
        time.sleep(duration * 0.2)
        start_rows, started = _pin_rows(group), time.monotonic()
        time.sleep(duration * 0.6)
        rows, elapsed = _pin_rows(group) - start_rows, time.monotonic() - started
        output, _ = wrk.communicate()
    (work_dir / "wrk-pin.out").write_text(output)
    figures = http_load.parse(output, "PIN stamps")
    figures["rate"] = rows / elapsed
    log(f"PIN stamps: {figures['rate']:.2f}/s (database count), p99 {figures['p99_us'] / 1000:.0f} ms")
    return figures
