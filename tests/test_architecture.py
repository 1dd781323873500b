"""Rules of the codebase's shape, enforced rather than only described."""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "loyalty"
SPREADSHEET = SRC / "services" / "spreadsheet.py"


def test_every_csv_goes_through_the_one_writer():
    """services/spreadsheet.py neutralises formulas and marks the encoding; no other module may write
    CSV by itself, or a vendor's spreadsheet could run what a customer typed."""
    writers = [
        f"{path.relative_to(SRC)}:{number}"
        for path in SRC.rglob("*.py")
        if path != SPREADSHEET
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\bcsv\.(writer|DictWriter)\b|^\s*import csv\b|^\s*from csv import", line)
    ]
    assert writers == []
