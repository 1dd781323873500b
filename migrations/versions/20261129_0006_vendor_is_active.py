"""Vendors can be deactivated by an operator: `vendors.is_active`, true for every existing vendor.

A deactivated vendor's API keys stop working at once (the caller's identification query joins the
vendor and refuses an inactive one), its public programme answers 404, and the admin still sees it;
reactivating it restores all of that, since nothing else is touched.

The column is added with a server default of true, so every existing row is backfilled by the same
statement and an INSERT that does not name the column (a script, an older process during a rolling
deploy) still creates an active vendor.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN on both databases: SQLite adds a NOT NULL column with a constant default in
    # place, where a batch operation would copy `vendors` and drop it, which every table's foreign key
    # forbids once there is data.
    op.add_column("vendors", sa.Column("is_active", sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    op.drop_column("vendors", "is_active")
