"""`make test`: checks PostgreSQL is reachable (required under CI=true), then runs pytest.

Outside CI, a machine without PostgreSQL still runs the SQLite half of the suite, and the
PostgreSQL tests are skipped with a message saying why. pytest's "no tests ran" (exit 5) is a failure.
"""

from __future__ import annotations

import os
import sys

import pytest

from tests.databases import postgres_unreachable_reason


def main() -> int:
    reason = postgres_unreachable_reason()
    if reason and os.environ.get("CI") == "true":
        print(f"PostgreSQL is required under CI=true: {reason}", file=sys.stderr)
        return 1
    if reason:
        print(f"NOTE: PostgreSQL tests will be skipped: {reason}", file=sys.stderr)
    code = pytest.main(sys.argv[1:])
    return 1 if code == pytest.ExitCode.NO_TESTS_COLLECTED else int(code)


if __name__ == "__main__":
    sys.exit(main())
