"""A till receipt earns points once per vendor: `order_references` holds the receipts that have.

Before, the same `order_reference` sent twice without an Idempotency-Key credited twice. Existing
earns are backfilled: per vendor and reference, the first entry not voided.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 16:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BACKFILL = """
INSERT INTO order_references (vendor_id, order_reference, transaction_id)
SELECT vendor_id, order_reference, min(id)
FROM loyalty_transactions AS earned
WHERE transaction_type = 'points_earned'
  AND order_reference IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM loyalty_transactions AS v WHERE v.voids_transaction_id = earned.id)
GROUP BY vendor_id, order_reference
"""


def upgrade() -> None:
    op.create_table(
        "order_references",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("vendor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("order_reference", sa.String(length=200), nullable=False),
        sa.Column("transaction_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.ForeignKeyConstraint(["vendor_id"], ["vendors.id"], name=op.f("fk_order_references_vendor_id_vendors")),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["loyalty_transactions.id"],
            name=op.f("fk_order_references_transaction_id_loyalty_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_references")),
        sa.UniqueConstraint("vendor_id", "order_reference", name=op.f("uq_order_references_vendor_id_order_reference")),
    )
    op.create_index("ix_order_references_transaction_id", "order_references", ["transaction_id"], unique=False)
    op.execute(BACKFILL)


def downgrade() -> None:
    op.drop_index("ix_order_references_transaction_id", table_name="order_references")
    op.drop_table("order_references")
