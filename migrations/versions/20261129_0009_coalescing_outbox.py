"""The wallet outbox coalesces and leases: one pending row per card and wallet, claimed by a worker for a
while, kept after sending for a day of statistics.

- `next_attempt_at` becomes `due_at` (WALLET.md's name); a partial unique index on (`card_id`, `provider`)
  WHERE status = 'pending' lets a burst of changes on one card update one row instead of adding ten
  (`INSERT … ON CONFLICT … DO UPDATE SET due_at = least(due_at, excluded.due_at)`).
- A worker claims rows (status `sending`, `claimed_until`): a change landing meanwhile queues a new
  pending row, so no update is lost; a worker that died leaves its rows to be claimed again once the
  lease is over.
- `last_attempt_at`, `sent_at`, `apns_id`: what the admin and the dashboard read. Sent rows stay
  (`sent`) until housekeeping deletes them.
- The worker's query reads a partial index of due rows only, whatever the number of sent rows.
- Each device registration keeps its last push: when and how APNs answered.

Rows written before this revision become pending, due now.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.drop_index("ix_wallet_outbox_status_next_attempt_at", table_name="wallet_outbox")
    with op.batch_alter_table("wallet_outbox") as outbox:
        outbox.alter_column("next_attempt_at", new_column_name="due_at", existing_type=UTC_DATETIME)
        outbox.add_column(sa.Column("claimed_until", UTC_DATETIME, nullable=True))
        outbox.add_column(sa.Column("last_attempt_at", UTC_DATETIME, nullable=True))
        outbox.add_column(sa.Column("apns_id", sa.String(length=64), nullable=True))
        outbox.drop_column("processed_at")
        outbox.add_column(sa.Column("sent_at", UTC_DATETIME, nullable=True))
    # Older rows: one pending row per card and wallet before the unique index can hold.
    op.execute(
        "DELETE FROM wallet_outbox WHERE status = 'pending' AND id NOT IN "
        "(SELECT max(id) FROM wallet_outbox WHERE status = 'pending' GROUP BY card_id, provider)"
    )
    op.create_index(
        "uq_wallet_outbox_pending_card_provider",
        "wallet_outbox",
        ["card_id", "provider"],
        unique=True,
        postgresql_where=sa.text("status = 'pending'"),
        sqlite_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_wallet_outbox_due",
        "wallet_outbox",
        ["due_at"],
        postgresql_where=sa.text("status IN ('pending', 'sending')"),
        sqlite_where=sa.text("status IN ('pending', 'sending')"),
    )
    op.create_index("ix_wallet_outbox_status_sent_at", "wallet_outbox", ["status", "sent_at"])
    with op.batch_alter_table("apple_device_registrations") as registrations:
        registrations.add_column(sa.Column("last_push_at", UTC_DATETIME, nullable=True))
        registrations.add_column(sa.Column("last_push_status", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("apple_device_registrations") as registrations:
        registrations.drop_column("last_push_status")
        registrations.drop_column("last_push_at")
    op.drop_index("ix_wallet_outbox_status_sent_at", table_name="wallet_outbox")
    op.drop_index("ix_wallet_outbox_due", table_name="wallet_outbox")
    op.drop_index("uq_wallet_outbox_pending_card_provider", table_name="wallet_outbox")
    with op.batch_alter_table("wallet_outbox") as outbox:
        outbox.drop_column("sent_at")
        outbox.add_column(sa.Column("processed_at", UTC_DATETIME, nullable=True))
        outbox.drop_column("apns_id")
        outbox.drop_column("last_attempt_at")
        outbox.drop_column("claimed_until")
        outbox.alter_column("due_at", new_column_name="next_attempt_at", existing_type=UTC_DATETIME)
    op.create_index("ix_wallet_outbox_status_next_attempt_at", "wallet_outbox", ["status", "next_attempt_at"])
