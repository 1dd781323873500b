"""The README's "Quick start with curl", run as written against a real `loyalty demo` (the console
script in a subprocess, a free port, SQLite in tmp_path), through HTTP with curl and bash.

Every answer's status must be the one its `# → NNN` comment promises (`# → NNN ×K` for a loop of K),
in order. It runs twice against one demo, then once more after the demo is restarted on the same
database (a second `make demo`): the walkthrough works every time, not only on a fresh database.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from tests.commands import healthy, loyalty_server

README = Path(__file__).resolve().parents[1] / "README.md"
DEFAULT_BASE = "BASE=http://127.0.0.1:8000"
# Each curl also writes its answer's status on stderr, one line each, in the order they ran.
STATUS_WRAPPER = "curl() { command curl -w '%{stderr}HTTP %{http_code}\\n' \"$@\"; }\n"

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="the walkthrough needs curl")


def quick_start() -> tuple[str, list[int]]:
    """The section's shell blocks joined into one script, and the statuses its comments promise."""
    text = README.read_text()
    section = text.split("## Quick start with curl", 1)[1].split("\n## ", 1)[0]
    script = "\n".join(re.findall(r"```sh\n(.*?)```", section, re.DOTALL))
    expected: list[int] = []
    for status, times in re.findall(r"^# → (\d{3})(?: ×(\d+))?", script, re.MULTILINE):
        expected += [int(status)] * int(times or 1)
    return script, expected


def answers(stdout: str) -> list[dict[str, Any]]:
    """The JSON answers curl printed one after the other (those not kept in a variable)."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while at < len(stdout):
        if stdout[at].isspace():
            at += 1
            continue
        value, at = decoder.raw_decode(stdout, at)
        found.append(value)
    return found


def environment(url: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("LOYALTY_")}
    env.update(LOYALTY_DATABASE_URL=url, LOYALTY_BCRYPT_ROUNDS="4", LOYALTY_LOG_LEVEL="WARNING")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # python3 for `field`
    return env


def demo_server(url: str, cwd: Path) -> AbstractContextManager[str]:
    return loyalty_server("demo", environment(url), cwd, ready=healthy)


def walk(base: str, url: str, cwd: Path) -> None:
    script, expected = quick_start()
    assert DEFAULT_BASE in script and len(expected) >= 10
    script = script.replace(DEFAULT_BASE, f"BASE={base}")
    run = subprocess.run(
        ["bash", "-c", "set -eo pipefail\n" + STATUS_WRAPPER + script],
        env=environment(url),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, f"the walkthrough stopped:\n{run.stderr}\n{run.stdout}"
    statuses = [int(line.split()[1]) for line in run.stderr.splitlines() if line.startswith("HTTP ")]
    assert statuses == expected, f"{run.stderr}\n{run.stdout}"
    printed = answers(run.stdout)
    assert any(a.get("stamp_count") == 3 and a.get("reward_earned") is True for a in printed)
    assert any(a.get("points_delta") == -50 and a.get("points_balance") == 12 for a in printed)
    assert printed[-1]["error_code"] == "INSUFFICIENT_STAMPS"


def test_the_readme_quick_start_works_as_written_every_time(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'loyalty.db'}"
    with demo_server(url, tmp_path) as base:
        walk(base, url, tmp_path)
        walk(base, url, tmp_path)  # again: a vendor of its own, its own ids
    with demo_server(url, tmp_path) as base:  # a second `make demo` on the same database
        walk(base, url, tmp_path)
