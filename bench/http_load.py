"""Phases 2 and 3: stamps over HTTP from wrk (C, LuaJIT), every request on a random seeded card
with its vendor's key.

Peak (phase 2): wrk's closed loop, C connections, as fast as the service answers.
Fixed rate (phase 3): the same script paced by wrk's `delay()` hook. Each wrk thread keeps an
absolute schedule (one slot every threads/rate seconds, on CLOCK_MONOTONIC through LuaJIT's FFI)
and a connection that becomes free takes the next slot. With many more connections than
rate × latency there is always a free connection at a slot, so requests leave on schedule and wrk's
latencies (measured from the actual send) are the latencies of a fixed arrival rate. A request that
leaves more than 1 ms after its slot is counted as late; late sends mean the measurement fell back to
a closed loop (coordinated omission), and the run says so.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from bench.seed import Group

STAMP_PATH = "/api/v1/vendor/loyalty/stamp"

LUA = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local threads = {}
local thread_count = 0
function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_index", thread_count)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() * 100 + thread_index)
  late, max_late_ms, slot = 0, 0, nil
end

function request()
  local i = math.random(0, CARDS - 1)
  local key = KEYS[math.floor(i / PER_VENDOR) + 1]
  local body = '{"card_id": ' .. (FIRST_CARD + i) .. EXTRA .. '}'
  return wrk.format("POST", PATH, {["Authorization"] = "Bearer " .. key,
                                   ["Content-Type"] = "application/json"}, body)
end

if RATE > 0 then
  local interval = 1000.0 * THREADS / RATE
  function delay()
    local now = now_ms()
    slot = slot and slot + interval or now
    local wait = slot - now
    if wait < -1 then
      late = late + 1
      if -wait > max_late_ms then max_late_ms = -wait end
    end
    return wait > 0 and math.floor(wait) or 0
  end
end

function done(summary, latency, requests)
  local late_total, max_late = 0, 0
  for _, t in ipairs(threads) do
    late_total = late_total + (t:get("late") or 0)
    max_late = math.max(max_late, t:get("max_late_ms") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, ' ..
    '"mean_us": %.1f, "status_errors": %d, "connect_errors": %d, "read_errors": %d, "write_errors": %d, ' ..
    '"timeouts": %d, "late": %d, "max_late_ms": %.1f}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean, e.status, e.connect, e.read, e.write, e.timeout, late_total, max_late))
end
"""


def write_script(group: Group, path: Path, *, threads: int, rate: float = 0, staff_pin: str | None = None) -> Path:
    extra = f', "staff_pin": "{staff_pin}"' if staff_pin else ""
    header = (
        f"KEYS = {{{', '.join(json.dumps(k) for k in group.keys)}}}\n"
        f"CARDS, PER_VENDOR, FIRST_CARD = {group.cards}, {group.per_vendor}, {group.first_card}\n"
        f"PATH, EXTRA = {json.dumps(STAMP_PATH)}, {json.dumps(extra)}\n"
        f"RATE, THREADS = {rate}, {threads}\n"
    )
    path.write_text(header + LUA)
    return path


def wrk_command(base: str, script: Path, *, connections: int, duration: int, threads: int = 2) -> list[str]:
    return [
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{duration}s",
        "--timeout",
        "60s",
        "--latency",
        "-s",
        str(script),
        base + STAMP_PATH,
    ]


def parse(output: str, label: str, *, strict: bool = True) -> dict[str, Any]:
    line = next((line for line in output.splitlines() if line.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"{label}: no figures from wrk:\n{output[-2000:]}")
    figures: dict[str, Any] = json.loads(line.removeprefix("BENCH_JSON "))
    errors = {
        name: figures[name]
        for name in ("status_errors", "connect_errors", "read_errors", "write_errors", "timeouts")
        if figures[name]
    }
    if errors and strict:
        raise RuntimeError(f"{label}: wrk saw errors {errors} (non-2xx answers must be 0):\n{output[-2000:]}")
    figures["rate"] = figures["requests"] / (figures["duration_us"] / 1e6)
    return figures


def run_wrk(base: str, script: Path, *, connections: int, duration: int, label: str, out_dir: Path) -> dict[str, Any]:
    done = subprocess.run(
        wrk_command(base, script, connections=connections, duration=duration), capture_output=True, text=True
    )
    (out_dir / f"wrk-{label}.out").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise RuntimeError(f"{label}: wrk failed: {done.stderr[-2000:]}")
    return parse(done.stdout, label)
