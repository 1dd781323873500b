"""The `loyalty` console command run as a user runs it: a server in a subprocess on a free port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.test_graceful_stop import free_port

LOYALTY = Path(sys.executable).parent / "loyalty"
HEALTH = "/api/v1/loyalty/health"


def answers(base: str) -> bool:
    """Ready once the server answers at all (health may rightly be 503)."""
    try:
        httpx.get(base + HEALTH, timeout=2)
    except httpx.TransportError:
        return False
    return True


def healthy(base: str) -> bool:
    try:
        return httpx.get(base + HEALTH, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@contextmanager
def loyalty_server(
    command: str, env: dict[str, str], cwd: Path, *, ready: Callable[[str], bool] = answers, within: float = 30
) -> Iterator[str]:
    """`loyalty COMMAND --port P` (serve or demo) until the block ends, then SIGTERM; yields its base
    URL once `ready(base)`. Its output goes to `cwd/COMMAND-P.log`, shown when it dies early."""
    port = free_port()
    log_path = cwd / f"{command}-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(LOYALTY), command, "--port", str(port)],
            env=env,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + within
            while not ready(base):
                assert process.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, f"`loyalty {command}` did not answer within {within} s"
                time.sleep(0.05)
            yield base
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
