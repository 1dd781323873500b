"""People who sign in: `users` (owners and managers of a vendor, platform admins; argon2id passwords),
`user_tokens` (one-time invitation and password-reset links, as SHA-256), and `web_sessions` of kind `user`.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 23:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TERMINAL_ONLY = "kind = 'terminal' AND terminal_id IS NOT NULL AND vendor_id IS NOT NULL"
TERMINAL_OR_USER = (
    "(kind = 'terminal' AND terminal_id IS NOT NULL AND vendor_id IS NOT NULL AND user_id IS NULL)"
    " OR (kind = 'user' AND user_id IS NOT NULL AND terminal_id IS NULL)"
)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("vendor_id", BIG_ID, nullable=True),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("email_normalised", sa.String(length=320), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("password_changed_at", UTC_DATETIME, nullable=True),
        sa.Column("last_sign_in_at", UTC_DATETIME, nullable=True),
        sa.Column("removed_at", UTC_DATETIME, nullable=True),
        sa.ForeignKeyConstraint(["vendor_id"], ["vendors.id"], name=op.f("fk_users_vendor_id_vendors")),
        sa.UniqueConstraint("email_normalised", name=op.f("uq_users_email_normalised")),
        sa.CheckConstraint("role IN ('owner', 'manager', 'admin')", name=op.f("ck_users_role")),
        sa.CheckConstraint("(role = 'admin') = (vendor_id IS NULL)", name=op.f("ck_users_admin_has_no_vendor")),
    )
    op.create_index("ix_users_vendor_id", "users", ["vendor_id"])
    op.create_table(
        "user_tokens",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("user_id", BIG_ID, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("expires_at", UTC_DATETIME, nullable=False),
        sa.Column("used_at", UTC_DATETIME, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_user_tokens_user_id_users")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_user_tokens_token_hash")),
        sa.CheckConstraint("purpose IN ('invitation', 'reset')", name=op.f("ck_user_tokens_purpose")),
    )
    op.create_index("ix_user_tokens_user_id", "user_tokens", ["user_id"])
    with op.batch_alter_table("web_sessions") as sessions:
        sessions.add_column(sa.Column("user_id", BIG_ID, nullable=True))
        sessions.create_foreign_key(op.f("fk_web_sessions_user_id_users"), "users", ["user_id"], ["id"])
        sessions.drop_constraint(op.f("ck_web_sessions_kind_has_holder"), type_="check")
        sessions.create_check_constraint(op.f("ck_web_sessions_kind_has_holder"), TERMINAL_OR_USER)
        sessions.create_index("ix_web_sessions_user_id", ["user_id"])


def downgrade() -> None:
    op.execute("DELETE FROM web_sessions WHERE kind = 'user'")
    with op.batch_alter_table("web_sessions") as sessions:
        sessions.drop_index("ix_web_sessions_user_id")
        sessions.drop_constraint(op.f("ck_web_sessions_kind_has_holder"), type_="check")
        sessions.create_check_constraint(op.f("ck_web_sessions_kind_has_holder"), TERMINAL_ONLY)
        sessions.drop_constraint(op.f("fk_web_sessions_user_id_users"), type_="foreignkey")
        sessions.drop_column("user_id")
    op.drop_index("ix_user_tokens_user_id", table_name="user_tokens")
    op.drop_table("user_tokens")
    op.drop_index("ix_users_vendor_id", table_name="users")
    op.drop_table("users")
