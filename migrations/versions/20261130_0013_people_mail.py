"""Mail for people who sign in: an outbox row of provider `mail` may name a user and a purpose
(`invitation` or `reset`) instead of a card or a programme. The row holds no link: the worker makes a
fresh one-time token when it sends the mail (worker/mail.py), so no link's secret is ever stored.

- `user_id` (FK users.id) and `purpose`; a CHECK keeps each row to exactly one target: a card, a
  programme, or a person with a purpose (then by mail).
- A partial unique index on (`user_id`, `purpose`) WHERE status = 'pending' coalesces a burst of
  requests for one person into one mail, as the cards' rows are.
- `vendor_id` may be NULL: a platform admin belongs to no vendor.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
CARD_OR_PROGRAM = "(card_id IS NULL) <> (program_id IS NULL)"
ONE_TARGET = (
    "(card_id IS NOT NULL AND program_id IS NULL AND user_id IS NULL AND purpose IS NULL)"
    " OR (card_id IS NULL AND program_id IS NOT NULL AND user_id IS NULL AND purpose IS NULL)"
    " OR (card_id IS NULL AND program_id IS NULL AND user_id IS NOT NULL AND purpose IS NOT NULL"
    " AND provider = 'mail')"
)
PENDING_USER = "status = 'pending' AND user_id IS NOT NULL"


def upgrade() -> None:
    with op.batch_alter_table("wallet_outbox") as outbox:
        outbox.alter_column("vendor_id", existing_type=BIG_ID, nullable=True)
        outbox.add_column(sa.Column("user_id", BIG_ID, nullable=True))
        outbox.add_column(sa.Column("purpose", sa.String(length=16), nullable=True))
        outbox.create_foreign_key(op.f("fk_wallet_outbox_user_id_users"), "users", ["user_id"], ["id"])
        outbox.drop_constraint(op.f("ck_wallet_outbox_card_or_program"), type_="check")
        outbox.create_check_constraint(op.f("ck_wallet_outbox_one_target"), ONE_TARGET)
        outbox.create_check_constraint(
            op.f("ck_wallet_outbox_purpose"), "purpose IS NULL OR purpose IN ('invitation', 'reset')"
        )
    op.create_index(
        "uq_wallet_outbox_pending_user_purpose",
        "wallet_outbox",
        ["user_id", "purpose"],
        unique=True,
        postgresql_where=sa.text(PENDING_USER),
        sqlite_where=sa.text(PENDING_USER),
    )


def downgrade() -> None:
    op.drop_index("uq_wallet_outbox_pending_user_purpose", table_name="wallet_outbox")
    # The people's mails have nowhere to go in the older schema (and only they may lack a vendor).
    op.execute("DELETE FROM wallet_outbox WHERE user_id IS NOT NULL")
    with op.batch_alter_table("wallet_outbox") as outbox:
        outbox.drop_constraint(op.f("ck_wallet_outbox_purpose"), type_="check")
        outbox.drop_constraint(op.f("ck_wallet_outbox_one_target"), type_="check")
        outbox.create_check_constraint(op.f("ck_wallet_outbox_card_or_program"), CARD_OR_PROGRAM)
        outbox.drop_constraint(op.f("fk_wallet_outbox_user_id_users"), type_="foreignkey")
        outbox.drop_column("purpose")
        outbox.drop_column("user_id")
        outbox.alter_column("vendor_id", existing_type=BIG_ID, nullable=False)
