"""Counter terminals: paired browsers with server-side sessions, named on the ledger entries they make.

- `terminals`: a vendor's counter devices, each with its pending pairing code (an HMAC, 10 minutes).
- `web_sessions`: a browser's session (the SHA-256 of its cookie), of kind `terminal` for now.
- `loyalty_transactions.terminal_id`: the terminal that made an entry. The column is nullable and has no
  default, so adding it rewrites nothing on PostgreSQL, and its foreign key is added NOT VALID: every
  existing row holds NULL, which cannot break it, so the ledger (10⁷ rows) is not scanned under a lock;
  new rows are checked. The append-only trigger compares whole rows as JSON and needs no change.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "terminals",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("vendor_id", BIG_ID, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("pairing_code_hash", sa.String(length=64), nullable=True),
        sa.Column("pairing_expires_at", UTC_DATETIME, nullable=True),
        sa.Column("paired_at", UTC_DATETIME, nullable=True),
        sa.Column("last_seen_at", UTC_DATETIME, nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("revoked_at", UTC_DATETIME, nullable=True),
        sa.ForeignKeyConstraint(["vendor_id"], ["vendors.id"], name=op.f("fk_terminals_vendor_id_vendors")),
        sa.UniqueConstraint("pairing_code_hash", name=op.f("uq_terminals_pairing_code_hash")),
    )
    op.create_index("ix_terminals_vendor_id", "terminals", ["vendor_id"])
    op.create_table(
        "web_sessions",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("vendor_id", BIG_ID, nullable=True),
        sa.Column("terminal_id", BIG_ID, nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("last_seen_at", UTC_DATETIME, nullable=False),
        sa.Column("revoked_at", UTC_DATETIME, nullable=True),
        sa.Column("client_ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(["vendor_id"], ["vendors.id"], name=op.f("fk_web_sessions_vendor_id_vendors")),
        sa.ForeignKeyConstraint(["terminal_id"], ["terminals.id"], name=op.f("fk_web_sessions_terminal_id_terminals")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_web_sessions_token_hash")),
        sa.CheckConstraint(
            "kind = 'terminal' AND terminal_id IS NOT NULL AND vendor_id IS NOT NULL",
            name=op.f("ck_web_sessions_kind_has_holder"),
        ),
    )
    op.create_index("ix_web_sessions_terminal_id", "web_sessions", ["terminal_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.add_column("loyalty_transactions", sa.Column("terminal_id", BIG_ID, nullable=True))
        op.execute(
            "ALTER TABLE loyalty_transactions ADD CONSTRAINT fk_loyalty_transactions_terminal_id_terminals"
            " FOREIGN KEY (terminal_id) REFERENCES terminals (id) NOT VALID"
        )
        return
    with op.batch_alter_table("loyalty_transactions") as ledger:  # SQLite: the table is copied anyway
        ledger.add_column(sa.Column("terminal_id", BIG_ID, nullable=True))
        ledger.create_foreign_key(
            op.f("fk_loyalty_transactions_terminal_id_terminals"), "terminals", ["terminal_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("loyalty_transactions") as ledger:
        ledger.drop_constraint(op.f("fk_loyalty_transactions_terminal_id_terminals"), type_="foreignkey")
        ledger.drop_column("terminal_id")
    op.drop_index("ix_web_sessions_terminal_id", table_name="web_sessions")
    op.drop_table("web_sessions")
    op.drop_index("ix_terminals_vendor_id", table_name="terminals")
    op.drop_table("terminals")
