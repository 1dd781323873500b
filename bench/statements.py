"""Phase 1 input: the SQL of one stamp, as the service itself sends it, turned into a pgbench script.

A one-worker server runs with `LOYALTY_STATEMENT_LOG` on; one warm-up stamp pays for the
connection's set-up queries and leaves its key's holder kept by the worker (`api/key_holders.py`), as
every key is under a steady load; then the statements of one more stamp (another card of the same
vendor) are taken from the log. Each parameter becomes a SQL literal, except the ids of the stamped card, its
vendor and its programme, which become pgbench variables drawn per transaction over every card, and
the instants of the stamp (its time, the cooldown's start, the outbox's due time), which become
`now()` plus their offset from the recorded stamp's time: the stamp's rules are in its SQL (the card's
UPDATE checks the cooldown), and a replay that wrote the recorded instants would find every card
stamped "later" by the reference transaction and so stamp nothing.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import Server, http_json, log
from bench.seed import Group

STAMP_PATH = "/api/v1/vendor/loyalty/stamp"
_PLACEHOLDER = re.compile(r"\$(\d+)")


def record_stamp(group: Group, work_dir: Path) -> tuple[list[dict[str, Any]], datetime]:
    """The statements of one stamp, and when it was sent."""
    statement_log = work_dir / "statements.jsonl"
    statement_log.unlink(missing_ok=True)
    with Server(1, work_dir, {"LOYALTY_STATEMENT_LOG": str(statement_log)}) as server:
        _stamp(server, group, group.cards - 2)  # the same vendor as the recorded stamp's card
        offset = statement_log.stat().st_size
        recorded_at = datetime.now(UTC)
        _stamp(server, group, group.cards - 1)
    with statement_log.open(encoding="utf-8") as lines:
        lines.seek(offset)
        recorded = [json.loads(line) for line in lines]
    log(f"one stamp = {len(recorded)} statements (log: {statement_log})")
    return recorded, recorded_at


def _stamp(server: Server, group: Group, index: int) -> None:
    key = group.keys[index // group.per_vendor]
    status, body = http_json("POST", server.base + STAMP_PATH, key, {"card_id": group.first_card + index})
    if status != 201:
        raise RuntimeError(f"recording stamp answered {status}: {body[:300]!r}")


def pgbench_script(recorded: list[dict[str, Any]], recorded_at: datetime, group: Group) -> str:
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
    ]
    # A stamp of one statement is sent alone, outside a transaction block (lazy_transaction.py), and so replayed.
    alone = len(recorded) == 1
    lines += [] if alone else ["BEGIN;"]
    for entry in recorded:
        parameter_sets = entry["parameters"] if entry["executemany"] else [entry["parameters"]]
        for parameters in parameter_sets:
            lines.append(_inline(entry["statement"], parameters or [], variables, recorded_at) + ";")
    lines += [] if alone else ["COMMIT;"]
    return "\n".join(lines) + "\n"


def _inline(
    statement: str, parameters: list[Any] | dict[str, Any], variables: dict[int, str], recorded_at: datetime
) -> str:
    if isinstance(parameters, dict):
        raise RuntimeError(f"named parameters are not expected from asyncpg: {statement[:200]}")

    def literal(match: re.Match[str]) -> str:
        return _literal(parameters[int(match.group(1)) - 1], variables, recorded_at)

    return " ".join(_PLACEHOLDER.sub(literal, statement).split())  # one line per command


# An instant within this long of the recorded stamp is one of the stamp's own (its time, the outbox's due time).
_OWN_INSTANT_SECONDS = 120


def _literal(value: Any, variables: dict[int, str], recorded_at: datetime) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return variables.get(value, str(value))
    if isinstance(value, float):
        return repr(value)
    text = str(value)
    if (instant := _instant(text)) is not None and abs((instant - recorded_at).total_seconds()) < _OWN_INSTANT_SECONDS:
        return f"(now() + interval '{(instant - recorded_at).total_seconds():.6f} seconds')"
    if re.search(r":[A-Za-z_]", text):  # pgbench would read it as a variable
        raise RuntimeError(f"parameter {text!r} cannot be a pgbench literal")
    return "'" + text.replace("'", "''") + "'"


def _instant(text: str) -> datetime | None:
    """An ISO 8601 instant with its offset, as the statement log writes a timestamptz, or None."""
    if "T" not in text:
        return None
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        return None
    return instant if instant.tzinfo is not None else None
