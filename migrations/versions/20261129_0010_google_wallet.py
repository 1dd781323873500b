"""Google Wallet: a LoyaltyClass per programme, a LoyaltyObject per card, and outbox rows for classes.

- `google_wallet_classes`: the class of a programme as the worker last wrote it with the fields last
  written, so a class is inserted once and a change patches only what differs.
- `google_wallet_objects`: a card's object once its save link was handed out, with the fields last
  written (a change PATCHes only what differs), the notifications of the last 24 hours (Google allows
  3 per pass) and the messages we added (Google keeps 10 per object).
- `wallet_outbox` rows may name a programme instead of a card (card_id NULL): its Google class changed.
  A second partial unique index coalesces those as the first does the cards'.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 20:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "google_wallet_classes",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("program_id", BIG_ID, nullable=False),
        sa.Column("class_id", sa.String(length=200), nullable=False),
        sa.Column("synced_fields", sa.JSON(), nullable=False),
        sa.Column("synced_at", UTC_DATETIME, nullable=True),
        sa.Column("review_status", sa.String(length=32), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"], ["loyalty_programs.id"], name=op.f("fk_google_wallet_classes_program_id_loyalty_programs")
        ),
        sa.UniqueConstraint("program_id", name=op.f("uq_google_wallet_classes_program_id")),
        sa.UniqueConstraint("class_id", name=op.f("uq_google_wallet_classes_class_id")),
    )
    op.create_table(
        "google_wallet_objects",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("vendor_id", BIG_ID, nullable=False),
        sa.Column("card_id", BIG_ID, nullable=False),
        sa.Column("object_id", sa.String(length=200), nullable=False),
        sa.Column("synced_fields", sa.JSON(), nullable=False),
        sa.Column("notices", sa.JSON(), nullable=False),
        sa.Column("messages", sa.JSON(), nullable=False),
        sa.Column("reward_ready", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=True),
        sa.Column("last_sync_at", UTC_DATETIME, nullable=True),
        sa.Column("last_sync_status", sa.String(length=64), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(["vendor_id"], ["vendors.id"], name=op.f("fk_google_wallet_objects_vendor_id_vendors")),
        sa.ForeignKeyConstraint(
            ["card_id"], ["loyalty_cards.id"], name=op.f("fk_google_wallet_objects_card_id_loyalty_cards")
        ),
        sa.UniqueConstraint("card_id", name=op.f("uq_google_wallet_objects_card_id")),
        sa.UniqueConstraint("object_id", name=op.f("uq_google_wallet_objects_object_id")),
    )
    op.create_index(op.f("ix_google_wallet_objects_vendor_id"), "google_wallet_objects", ["vendor_id"])
    with op.batch_alter_table("wallet_outbox") as outbox:
        outbox.alter_column("card_id", existing_type=BIG_ID, nullable=True)
        outbox.add_column(sa.Column("program_id", BIG_ID, nullable=True))
        outbox.create_foreign_key(
            op.f("fk_wallet_outbox_program_id_loyalty_programs"), "loyalty_programs", ["program_id"], ["id"]
        )
        outbox.create_check_constraint(
            op.f("ck_wallet_outbox_card_or_program"), "(card_id IS NULL) <> (program_id IS NULL)"
        )
    op.create_index(
        "uq_wallet_outbox_pending_program_provider",
        "wallet_outbox",
        ["program_id", "provider"],
        unique=True,
        postgresql_where=sa.text("status = 'pending' AND card_id IS NULL"),
        sqlite_where=sa.text("status = 'pending' AND card_id IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_wallet_outbox_pending_program_provider", table_name="wallet_outbox")
    op.execute("DELETE FROM wallet_outbox WHERE card_id IS NULL")
    with op.batch_alter_table("wallet_outbox") as outbox:
        outbox.drop_constraint(op.f("ck_wallet_outbox_card_or_program"), type_="check")
        outbox.drop_constraint(op.f("fk_wallet_outbox_program_id_loyalty_programs"), type_="foreignkey")
        outbox.drop_column("program_id")
        outbox.alter_column("card_id", existing_type=BIG_ID, nullable=False)
    op.drop_index(op.f("ix_google_wallet_objects_vendor_id"), table_name="google_wallet_objects")
    op.drop_table("google_wallet_objects")
    op.drop_table("google_wallet_classes")
