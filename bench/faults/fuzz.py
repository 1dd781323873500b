"""Scenario 4, bad input at volume: schemathesis (the CLI, version 4) against the running server's
/openapi.json, every phase (examples, coverage, fuzzing, stateful) and both positive and negative
data: first every non-admin operation with a vendor key, then /api/v1/admin with an admin key (last,
since admin calls may revoke keys). Checks: no server error, and every answer conforms to its
documented schema. The figures come from schemathesis' NDJSON report; the server's own log adds the
traceback of each 5xx.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.common import VENV_BIN, log
from bench.faults.common import (
    HARD_TIMEOUT,
    SLOW_LIMIT,
    VENDOR,
    Options,
    Row,
    ServerProcess,
    Tenant,
    add_server_log,
    create_admin_key,
    new_client,
    seed_vendor,
)

CHECKS = "not_a_server_error,response_schema_conformance"
ADMIN_PATHS = "^/api/v1/admin"
KEY_REVOCATION = "^/api/v1/admin/loyalty/api-keys/"
# (label, which key, the schemathesis filter): the vendor operations, then the admin ones but key
# revocation, then key revocation alone (it may well revoke the very key the fuzzer uses).
RUNS = (
    ("vendor", "vendor", ["--exclude-path-regex", ADMIN_PATHS]),
    ("admin", "admin", ["--include-path-regex", ADMIN_PATHS, "--exclude-path-regex", KEY_REVOCATION]),
    ("admin-revoke", "admin", ["--include-path-regex", KEY_REVOCATION]),
)


@dataclass(frozen=True)
class Plan:
    examples: int  # schemathesis --max-examples per operation
    timeout: float  # seconds for one schemathesis run


def plan(opts: Options) -> Plan:
    return Plan(examples=4, timeout=150.0) if opts.quick else Plan(examples=40, timeout=420.0)


@dataclass
class Report:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    no_response: int = 0
    slowest: float = 0.0
    slow: int = 0
    failures: Counter[tuple[str, str, int | None]] = field(default_factory=Counter)  # (check, operation, status)
    examples: dict[tuple[str, str, int | None], str] = field(default_factory=dict)
    exit_code: int = 0
    output_tail: str = ""
    tool_errors: list[str] = field(default_factory=list)  # schemathesis' own errors (NonFatalError)


def read_ndjson(path: Path, report: Report) -> None:
    for line in path.read_text(errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if not isinstance(event, dict):
            continue
        if error := event.get("NonFatalError"):
            value = error.get("value") or {}
            report.tool_errors.append(
                f"{error.get('label', '?')} ({error.get('phase', '?')} phase): "
                f"{value.get('type', '?')}: {str(value.get('message', ''))[:200]}"
            )
            continue
        finished = event.get("ScenarioFinished")
        if not finished:
            continue
        recorder: dict[str, Any] = finished.get("recorder") or {}
        interactions: dict[str, Any] = recorder.get("interactions") or {}
        for interaction in interactions.values():
            report.requests += 1
            response = interaction.get("response")
            if response is None:
                report.no_response += 1
                continue
            report.statuses[int(response["status_code"])] += 1
            elapsed = float(response.get("elapsed") or 0.0)
            report.slowest = max(report.slowest, elapsed)
            report.slow += elapsed > SLOW_LIMIT
        for case_id, checks in (recorder.get("checks") or {}).items():
            for check in checks:
                if check.get("status") != "failure":
                    continue
                info = (check.get("failure_info") or {}).get("failure") or {}
                interaction = interactions.get(case_id) or {}
                response = interaction.get("response") or {}
                status = response.get("status_code")
                key = (str(check.get("name")), str(info.get("operation", recorder.get("label", "?"))), status)
                report.failures[key] += 1
                if key not in report.examples:
                    request = interaction.get("request") or {}
                    request_id = (response.get("headers") or {}).get("x-request-id", ["?"])[0]
                    message = str(info.get("message") or info.get("title") or "")[:300].replace("\n", " ")
                    report.examples[key] = (
                        f"{request.get('method', '?')} {str(request.get('uri', '?'))[:200]} -> {status}, "
                        f"X-Request-ID {request_id}; {message}"
                    )


async def schemathesis(
    base: str, key: str, label: str, selection: list[str], p: Plan, opts: Options, report: Report
) -> None:
    out_dir = opts.work_dir / f"schemathesis-{label}"
    command = [
        str(VENV_BIN / "schemathesis"),
        "run",
        f"{base}/openapi.json",
        "--checks",
        CHECKS,
        "--header",
        f"Authorization: Bearer {key}",
        *selection,
        "--max-examples",
        str(p.examples),
        "--seed",
        str(opts.seed),
        "--continue-on-failure",
        "--suppress-health-check",
        "all",
        "--request-timeout",
        str(HARD_TIMEOUT),
        "--workers",
        "2",
        "--report",
        "ndjson",
        "--report-dir",
        str(out_dir),
    ]
    started = time.monotonic()
    try:
        done = await asyncio.to_thread(
            subprocess.run, command, capture_output=True, text=True, timeout=p.timeout, cwd=opts.work_dir
        )
        report.exit_code = done.returncode
        report.output_tail = (done.stdout + done.stderr)[-1500:]
        (opts.work_dir / f"schemathesis-{label}.out").write_text(done.stdout + done.stderr)
    except subprocess.TimeoutExpired:
        report.exit_code = -1
        report.output_tail = f"schemathesis did not finish within {p.timeout:.0f} s"
    for path in sorted(out_dir.glob("*.ndjson")):
        read_ndjson(path, report)
    log(
        f"fuzz: {label}: {report.requests} requests so far, exit {report.exit_code}, {time.monotonic() - started:.0f} s"
    )


# --- deterministic edge probes ---------------------------------------------------------------------

# Integers just past the PostgreSQL INTEGER and BIGINT ranges, and one far past both.
HUGE_IDS = ("2147483648", "9223372036854775808", "99999999999999999999")
NUL = "probe\u0000text"


@dataclass(frozen=True)
class Probe:
    method: str
    template: str  # the route template, as reported
    url: str
    admin: bool
    body: dict[str, Any] | None = None


def edge_probes(spec: dict[str, Any], base: str, tenant: Tenant) -> list[Probe]:
    """The same bad inputs on every run (schemathesis draws at random): every integer path
    parameter set just past INTEGER, just past BIGINT and far beyond (with a valid body where the
    route needs one, so the id reaches the database), and a NUL character in text the service
    stores or searches."""
    bodies: dict[str, dict[str, Any]] = {
        "/void": {"reason": "probe", "staff_pin": tenant.pins[0]},
        "/api-keys": {"name": "probe"},
        "/pins/{pin_id}": {"name": "probe"},
    }
    probes: list[Probe] = []
    for template, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            params = [p for p in operation.get("parameters", []) if p.get("in") == "path"]
            integers = [p["name"] for p in params if (p.get("schema") or {}).get("type") == "integer"]
            if not integers:
                continue
            body = next((b for suffix, b in bodies.items() if template.endswith(suffix)), None)
            if "requestBody" in operation and body is None:
                body = {}
            for value in HUGE_IDS:
                url = template
                for name in integers:
                    url = url.replace(f"{{{name}}}", value)
                admin = template.startswith("/api/v1/admin")
                probes.append(Probe(method.upper(), f"{method.upper()} {template}", base + url, admin, body))
    vendor, admin_base = f"{base}{VENDOR}", f"{base}/api/v1/admin/loyalty"
    card = tenant.card_ids[0]
    nul_writes: list[tuple[str, str, bool, dict[str, Any]]] = [
        (f"{admin_base}/vendors", "/api/v1/admin/loyalty/vendors", True, {"name": NUL}),
        (
            f"{admin_base}/vendors/{tenant.vendor_id}/api-keys",
            "/api/v1/admin/loyalty/vendors/{vendor_id}/api-keys",
            True,
            {"name": NUL},
        ),
        (f"{vendor}/cards", f"{VENDOR}/cards", False, {"email": "nul@probe.faults.example", "name": NUL}),
        (f"{vendor}/pins", f"{VENDOR}/pins", False, {"name": NUL, "pin": "97531"}),
        (f"{vendor}/stamp", f"{VENDOR}/stamp", False, {"card_id": card, "staff_pin": tenant.pins[0], "notes": NUL}),
        (
            f"{base}/api/v1/loyalty/programs/{tenant.slug}/enroll",
            "/api/v1/loyalty/programs/{vendor_slug}/enroll",
            False,
            {"email": "nul2@probe.faults.example", "name": NUL},
        ),
    ]
    for url, template, admin, body in nul_writes:
        probes.append(Probe("POST", f"POST {template} (NUL in text)", url, admin, body))
    for url, template, admin in (
        (f"{vendor}/cards?search=a%00b", f"{VENDOR}/cards?search=", False),
        (f"{admin_base}/vendors?search=a%00b", "/api/v1/admin/loyalty/vendors?search=", True),
        (f"{admin_base}/programs?search=a%00b", "/api/v1/admin/loyalty/programs?search=", True),
    ):
        probes.append(Probe("GET", f"GET {template} (NUL in query)", url, admin))
    return probes


async def run_probes(base: str, tenant: Tenant, admin_key: str, row: Row) -> int:
    """Each probe on a connection of its own, followed by a second request on the same connection:
    an answer must not be 5xx, must carry X-Request-ID, and must leave the connection usable."""
    async with new_client(1) as client:
        spec = (await client.get(f"{base}/openapi.json")).json()
    probes = edge_probes(spec, base, tenant)
    problems: Counter[str] = Counter()
    for probe in probes:
        key = admin_key if probe.admin else tenant.key
        async with new_client(1) as client:
            try:
                answer = await client.request(
                    probe.method, probe.url, json=probe.body, headers={"Authorization": f"Bearer {key}"}
                )
            except httpx.HTTPError as exc:
                problems[f"{probe.template}: no answer ({type(exc).__name__})"] += 1
                continue
            if answer.status_code >= 500:
                row.server_errors += 1
                row.unavailable += answer.status_code == 503
                problems[
                    f"{probe.template}: {answer.status_code} {answer.text[:160]} (e.g. {probe.url.split('/api/')[-1]})"
                ] += 1
            if "x-request-id" not in answer.headers:
                problems[f"{probe.template}: answered {answer.status_code} without X-Request-ID"] += 1
            try:
                await client.get(f"{base}/openapi.json")
            except httpx.HTTPError as exc:
                problems[
                    f"{probe.template}: after its {answer.status_code} answer the server dropped the keep-alive "
                    f"connection (next request: {type(exc).__name__})"
                ] += 1
    for problem, count in problems.items():
        row.failures.append(f"[edge probes] {count} x {problem}")
    return len(probes)


async def run(opts: Options, admin_key: str) -> Row:
    row = Row("4 fuzz (schemathesis)")
    p = plan(opts)
    # Every request comes from 127.0.0.1: the per-address limits (enrolments, wrong API keys, which
    # schemathesis sends on purpose) would soon answer 429 to everything and hide the rest.
    limits = {"LOYALTY_ENROLL_RATE_LIMIT": "1000000", "LOYALTY_AUTH_FAILURE_LIMIT": "1000000"}
    server = ServerProcess("fuzz", opts.work_dir, workers=2, env=limits)
    await server.start()
    reports: dict[str, Report] = {}
    try:
        async with new_client(4) as client:
            tenant = await seed_vendor(client, server.base, admin_key, "fuzz-cafe", cards=3)
        keys = {"vendor": tenant.key, "admin": await create_admin_key("faults fuzz")}
        probes = await run_probes(server.base, tenant, keys["admin"], row)
        row.ops += probes
        row.notes.append(f"{probes} deterministic edge probes (huge ids in every integer path parameter, NUL in text)")
        for label, which, selection in RUNS:
            reports[label] = Report()
            await schemathesis(server.base, keys[which], label, selection, p, opts, reports[label])
    finally:
        server.stop()
    for label, report in reports.items():
        row.ops += report.requests
        row.server_errors += sum(c for s, c in report.statuses.items() if s >= 500)
        row.unavailable += report.statuses[503]
        row.hangs += report.slow + report.no_response
        row.max_latency = max(row.max_latency, report.slowest)
        for (check, operation, status), count in sorted(report.failures.items(), key=lambda i: -i[1]):
            row.failures.append(
                f"[{label} key] {check} failed {count} x on {operation} (status {status}); e.g. "
                f"{report.examples[(check, operation, status)]}"
            )
        if report.no_response:
            row.failures.append(
                f"[{label} key] {report.no_response} requests got no answer (connection error or timeout)"
            )
        if report.slow:
            row.failures.append(f"[{label} key] {report.slow} requests took longer than {SLOW_LIMIT:.0f} s")
        if report.requests == 0:
            row.failures.append(f"[{label} key] schemathesis sent no request: {report.output_tail}")
        elif report.exit_code != 0 and not report.failures and not report.tool_errors:
            row.failures.append(f"[{label} key] schemathesis exited {report.exit_code}: {report.output_tail[-600:]}")
        for error in report.tool_errors:
            row.notes.append(
                f"[{label} key] schemathesis' own error, not the service's (that case was not run): {error}"
            )
        row.notes.append(
            f"{label} key: {report.requests} requests, statuses {dict(sorted(report.statuses.items()))}, "
            f"{sum(report.failures.values())} failed checks, schemathesis exit {report.exit_code}"
        )
    add_server_log(row, server)
    return row
