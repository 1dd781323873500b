"""Failed PIN checks are counted within a window (`failures_since`), not until the next success.

A terminal's count of wrong PINs used to be cleared by any PIN's success, so guessing between
successes never locked (docs/rules.md). Counts now start with the first failure of a window of
LOYALTY_PIN_LOCKOUT_MINUTES and only time (or the vendor's unlock) clears them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 15:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("pin_guards", "staff_pins")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("failures_since", sa.DateTime(timezone=True), nullable=True))
        # Counts made before windows existed start their window now.
        op.execute(f"UPDATE {table} SET failures_since = CURRENT_TIMESTAMP WHERE failed_attempts > 0")


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("failures_since")
