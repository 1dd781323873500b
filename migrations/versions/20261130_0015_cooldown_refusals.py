"""Stamps refused during a card's cooldown: `cooldown_refusals` records who asked (the approving staff PIN),
from which paired terminal, for which card and when, for the dashboard's "two terminals" anomaly. Written
after the refused request rolls back; kept 30 days by housekeeping.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 02:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "cooldown_refusals",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("vendor_id", BIG_ID, nullable=False),
        sa.Column("card_id", BIG_ID, nullable=False),
        sa.Column("terminal_id", BIG_ID, nullable=True),
        sa.Column("staff_pin_id", BIG_ID, nullable=True),
        sa.Column("refused_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(["vendor_id"], ["vendors.id"], name=op.f("fk_cooldown_refusals_vendor_id_vendors")),
        sa.ForeignKeyConstraint(
            ["card_id"], ["loyalty_cards.id"], name=op.f("fk_cooldown_refusals_card_id_loyalty_cards")
        ),
        sa.ForeignKeyConstraint(
            ["terminal_id"], ["terminals.id"], name=op.f("fk_cooldown_refusals_terminal_id_terminals")
        ),
        sa.ForeignKeyConstraint(
            ["staff_pin_id"], ["staff_pins.id"], name=op.f("fk_cooldown_refusals_staff_pin_id_staff_pins")
        ),
    )
    op.create_index("ix_cooldown_refusals_vendor_id_refused_at", "cooldown_refusals", ["vendor_id", "refused_at"])


def downgrade() -> None:
    op.drop_index("ix_cooldown_refusals_vendor_id_refused_at", table_name="cooldown_refusals")
    op.drop_table("cooldown_refusals")
