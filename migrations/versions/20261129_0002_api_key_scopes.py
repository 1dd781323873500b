"""API keys carry a scope: `admin`, `owner` (a vendor's whole API) or `counter` (the counter's
operations only), so that a terminal's key cannot lift its own PIN lockout (docs/rules.md).

Existing admin keys become `admin`, existing vendor keys `owner`: they keep every right they had.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 15:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("scope", sa.String(length=16), nullable=True))
    op.execute("UPDATE api_keys SET scope = CASE WHEN vendor_id IS NULL THEN 'admin' ELSE 'owner' END")
    with op.batch_alter_table("api_keys") as batch:
        batch.alter_column("scope", existing_type=sa.String(length=16), nullable=False)
        batch.create_check_constraint(
            op.f("ck_api_keys_scope_matches_vendor"),
            "(vendor_id IS NULL AND scope = 'admin') OR (vendor_id IS NOT NULL AND scope IN ('owner', 'counter'))",
        )


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_constraint(op.f("ck_api_keys_scope_matches_vendor"), type_="check")
        batch.drop_column("scope")
