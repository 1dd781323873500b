"""Where a worker's time goes under the stamp load: py-spy samples one uvicorn worker while wrk
runs, and the collapsed stacks are summed into the frames with the most samples, on their own
(self) and with what they call (inclusive)."""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from pathlib import Path

from bench.common import VENV_BIN


def available() -> str | None:
    return str(VENV_BIN / "py-spy") if (VENV_BIN / "py-spy").exists() else shutil.which("py-spy")


def start(pid: int, seconds: int, out: Path) -> subprocess.Popen[bytes]:
    py_spy = available()
    if py_spy is None:
        raise RuntimeError("py-spy is not installed: .venv/bin/pip install py-spy")
    command = [
        py_spy,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(seconds),
        "--rate",
        "200",
        "--format",
        "raw",
        "--nonblocking",
        "--output",
        str(out),
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def summarise(raw: Path, top: int = 15) -> str:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return "no samples"
    lines = [f"{total} samples of one worker (CPU only; waiting on sockets is not sampled)", "", "self:"]
    lines += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(top)]
    lines += ["", "inclusive (frames of the service, SQLAlchemy, asyncpg, FastAPI/Starlette, pydantic, uvicorn):"]
    wanted = ("loyalty", "sqlalchemy", "asyncpg", "fastapi", "starlette", "pydantic", "uvicorn", "h11", "httptools")
    ours = [(frame, n) for frame, n in inclusive.most_common() if any(w in frame for w in wanted)]
    lines += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in ours[: top + 10]]
    return "\n".join(lines)
