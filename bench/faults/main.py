"""`bench/faults/run`: fault injection against real `loyalty serve` processes (see bench/faults/README.md).

1. crash       kill -9 the whole server at random moments under a write load; nothing lost or doubled
2. db-lost     PostgreSQL connections terminated (and, with --restart-postgres, the cluster restarted)
3. pool        more concurrent requests than the pool holds: enrolment, wrong PINs, CSV exports
4. fuzz        schemathesis: thousands of generated requests, no 5xx, answers match their schema

Prints one table row per scenario and exits 1 on any loss, duplicate, 500 or hang.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench.common import ROOT, VENV_BIN, log
from bench.faults import crash, db_lost, fuzz, pool
from bench.faults.common import DB_NAME, Options, Row, create_database, drop_database, faults_env, table

Scenario = Callable[[Options, str], Awaitable[list[Row]]]


async def _one(run: Callable[[Options, str], Awaitable[Row]], opts: Options, admin_key: str) -> list[Row]:
    return [await run(opts, admin_key)]


SCENARIOS: dict[str, Scenario] = {
    "crash": lambda o, k: _one(crash.run, o, k),
    "db-lost": lambda o, k: _one(db_lost.run, o, k),
    "pool": pool.run,
    "fuzz": lambda o, k: _one(fuzz.run, o, k),
}


def options(argv: list[str]) -> tuple[Options, list[str], bool, str]:
    parser = argparse.ArgumentParser(
        prog="bench/faults/run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), action="append", help="run only this one (repeatable)")
    parser.add_argument("--quick", action="store_true", help="a short run (under ~3 minutes)")
    parser.add_argument(
        "--restart-postgres",
        action="store_true",
        help="db-lost also restarts the PostgreSQL cluster (pg_ctlcluster): every database on it is disconnected",
    )
    parser.add_argument("--seed", type=int, default=int(time.time()), help="random seed (printed, for a re-run)")
    parser.add_argument("--keep-db", action="store_true", help=f"leave the {DB_NAME} database for inspection")
    parser.add_argument(
        "--no-snapshot",
        action="store_true",
        help="servers import the live checkout, edits made during the run included (default: a copy made at the start)",
    )
    args = parser.parse_args(argv)
    work_dir = Path(tempfile.mkdtemp(prefix="loyalty-faults-"))
    copied = "" if args.no_snapshot else snapshot(work_dir)
    chosen = args.scenario or list(SCENARIOS)
    opts = Options(quick=args.quick, work_dir=work_dir, restart_postgres=args.restart_postgres, seed=args.seed)
    return opts, [name for name in SCENARIOS if name in chosen], args.keep_db, copied


async def _main(opts: Options, chosen: list[str], keep_db: bool) -> list[Row]:
    rows: list[Row] = []
    admin_key = await create_database()
    log(f"database {DB_NAME} created and migrated; admin key created")
    try:
        for name in chosen:
            started = time.monotonic()
            log(f"scenario {name} ...")
            try:
                rows += await SCENARIOS[name](opts, admin_key)
            except Exception as exc:  # one broken scenario must not hide the others' results
                log(f"scenario {name} could not run: {exc!r}")
                rows.append(Row(name, failures=[f"the scenario could not run: {exc!r}"]))
            log(f"scenario {name}: {time.monotonic() - started:.0f} s")
    finally:
        if not keep_db:
            await drop_database()
    return rows


def snapshot(work_dir: Path) -> str:
    """Copies the `loyalty` package the servers would import (and its migrations beside it, where
    `loyalty.migrate` looks for them) into the run's directory and puts it first on PYTHONPATH: every
    server started or restarted during the run imports the same code, even while someone edits the
    checkout. A PYTHONPATH given by the caller (another version) is snapshotted instead."""
    found = subprocess.run(
        [str(VENV_BIN / "python"), "-c", "import loyalty; print(loyalty.__file__)"],
        env=faults_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    src = Path(found).parent.parent
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(src / "loyalty", work_dir / "code" / "src" / "loyalty", ignore=ignore)
    if (src.parent / "migrations").is_dir():
        shutil.copytree(src.parent / "migrations", work_dir / "code" / "migrations", ignore=ignore)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(work_dir / "code" / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    return str(src / "loyalty")


def code_under_test(copied: str) -> str:
    """Which `loyalty` package the servers import (PYTHONPATH may point elsewhere), and the state of
    the checkout: its commit and a digest of the uncommitted changes under src/."""
    where = subprocess.run(
        [str(VENV_BIN / "python"), "-c", "import loyalty; print(loyalty.__file__)"],
        env=faults_env(),
        capture_output=True,
        text=True,
    ).stdout.strip()

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout

    commit = git("rev-parse", "--short", "HEAD").strip()
    diff = git("diff", "HEAD", "--", "src")
    changed = len(git("diff", "HEAD", "--name-only", "--", "src").split())
    state = (
        f"{changed} files changed under src/ (diff {hashlib.sha1(diff.encode()).hexdigest()[:10]})" if diff else "clean"
    )
    origin = f" (a copy of {copied} made at the start)" if copied else ""
    return f"servers import {where}{origin}; the checkout {ROOT} is at {commit}, {state}"


def main(argv: list[str]) -> int:
    opts, chosen, keep_db, copied = options(argv)
    started = time.monotonic()
    log(f"{'QUICK' if opts.quick else 'FULL'} run of {', '.join(chosen)}; seed {opts.seed}; files in {opts.work_dir}")
    log(code_under_test(copied))
    rows = asyncio.run(_main(opts, chosen, keep_db))
    print(table(rows))
    for row in rows:
        if row.failures or row.notes:
            print(f"\n{row.scenario}: {'FAIL' if row.failures else 'pass'}")
        for failure in row.failures:
            print(f"  FAIL  {failure}")
        for note in row.notes:
            print(f"  note  {note}")
    failed = [row.scenario for row in rows if not row.ok]
    print(
        f"\n{len(rows) - len(failed)} of {len(rows)} passed; wall time {time.monotonic() - started:.0f} s; "
        f"seed {opts.seed}; server logs in {opts.work_dir}",
        flush=True,
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
