"""Reward ids are never reused within a programme: `last_reward_id` is the highest id ever given.

A catalogue replaced without the old ids used to hand id 1 to the new first reward, so a terminal
that had cached `reward_id` 1 spent points on whatever took its place (docs/rules.md).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 15:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The highest id in each catalogue today: what has been given so far, as far as anyone can know.
HIGHEST_ID = {
    "postgresql": "(SELECT max((r ->> 'id')::bigint) FROM json_array_elements(points_rewards) AS r)",
    "sqlite": "(SELECT max(json_extract(value, '$.id')) FROM json_each(points_rewards))",
}


def upgrade() -> None:
    with op.batch_alter_table("loyalty_programs") as batch:
        batch.add_column(sa.Column("last_reward_id", sa.BigInteger(), nullable=False, server_default="0"))
    highest = HIGHEST_ID[op.get_bind().dialect.name]
    op.execute(f"UPDATE loyalty_programs SET last_reward_id = COALESCE({highest}, 0)")


def downgrade() -> None:
    with op.batch_alter_table("loyalty_programs") as batch:
        batch.drop_column("last_reward_id")
