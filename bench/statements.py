"""Phase 1 input: the SQL of one stamp, as the service itself sends it, turned into a pgbench script.

A one-worker server runs with `LOYALTY_STATEMENT_LOG` on; one warm-up stamp pays for the
connection's set-up queries, then the statements of one more stamp (on a card of another vendor) are
taken from the log. Each parameter becomes a SQL literal, except the ids of the stamped card, its
vendor and its programme, which become pgbench variables drawn per transaction over every card.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from bench.common import Server, http_json, log
from bench.seed import Group

STAMP_PATH = "/api/v1/vendor/loyalty/stamp"
_PLACEHOLDER = re.compile(r"\$(\d+)")


def record_stamp(group: Group, work_dir: Path) -> list[dict[str, Any]]:
    statement_log = work_dir / "statements.jsonl"
    statement_log.unlink(missing_ok=True)
    with Server(1, work_dir, {"LOYALTY_STATEMENT_LOG": str(statement_log)}) as server:
        _stamp(server, group, 0)
        offset = statement_log.stat().st_size
        _stamp(server, group, group.cards - 1)
    with statement_log.open(encoding="utf-8") as lines:
        lines.seek(offset)
        recorded = [json.loads(line) for line in lines]
    log(f"one stamp = {len(recorded)} statements (log: {statement_log})")
    return recorded


def _stamp(server: Server, group: Group, index: int) -> None:
    key = group.keys[index // group.per_vendor]
    status, body = http_json("POST", server.base + STAMP_PATH, key, {"card_id": group.first_card + index})
    if status != 201:
        raise RuntimeError(f"recording stamp answered {status}: {body[:300]!r}")


def pgbench_script(recorded: list[dict[str, Any]], group: Group) -> str:
    index = group.cards - 1  # the recorded stamp's card, see record_stamp
    variables = {
        group.first_card + index: ":card_id",
        group.first_vendor + index // group.per_vendor: ":vendor_id",
        group.first_program + index // group.per_vendor: ":program_id",
    }
    lines = [
        f"\\set i random(0, {group.cards - 1})",
        f"\\set card_id {group.first_card} + :i",
        f"\\set vendor_id {group.first_vendor} + :i / {group.per_vendor}",
        f"\\set program_id {group.first_program} + :i / {group.per_vendor}",
        "BEGIN;",
    ]
    for entry in recorded:
        parameter_sets = entry["parameters"] if entry["executemany"] else [entry["parameters"]]
        for parameters in parameter_sets:
            lines.append(_inline(entry["statement"], parameters or [], variables) + ";")
    lines.append("COMMIT;")
    return "\n".join(lines) + "\n"


def _inline(statement: str, parameters: list[Any] | dict[str, Any], variables: dict[int, str]) -> str:
    if isinstance(parameters, dict):
        raise RuntimeError(f"named parameters are not expected from asyncpg: {statement[:200]}")

    def literal(match: re.Match[str]) -> str:
        return _literal(parameters[int(match.group(1)) - 1], variables)

    return " ".join(_PLACEHOLDER.sub(literal, statement).split())  # one line per command


def _literal(value: Any, variables: dict[int, str]) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return variables.get(value, str(value))
    if isinstance(value, float):
        return repr(value)
    text = str(value)
    if re.search(r":[A-Za-z_]", text):  # pgbench would read it as a variable
        raise RuntimeError(f"parameter {text!r} cannot be a pgbench literal")
    return "'" + text.replace("'", "''") + "'"
