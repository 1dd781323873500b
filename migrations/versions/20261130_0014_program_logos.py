"""Programme logos uploaded on the dashboard: `program_logos` holds each programme's logo as the PNG it
was re-encoded to (at most 660×660, never the bytes sent), with its SHA-256 `digest`, which names the
public immutable URL the wallets fetch it from (`/wallet/img/logos/{digest}/logo.png`, indexed for that look-up).
One per programme (its primary key); a new upload replaces it.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "program_logos",
        sa.Column("program_id", BIG_ID, nullable=False, autoincrement=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("png", sa.LargeBinary(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"], ["loyalty_programs.id"], name=op.f("fk_program_logos_program_id_loyalty_programs")
        ),
        sa.PrimaryKeyConstraint("program_id", name=op.f("pk_program_logos")),
    )
    op.create_index("ix_program_logos_digest", "program_logos", ["digest"])


def downgrade() -> None:
    op.drop_index("ix_program_logos_digest", table_name="program_logos")
    op.drop_table("program_logos")
