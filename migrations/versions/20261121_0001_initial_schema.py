"""Initial schema: every table of the service, and the append-only ledger trigger on PostgreSQL.

Revision ID: 0001
Revises:
Create Date: 2026-11-21 11:53:38.301321
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The ledger is append-only: corrections are new `void` entries, never edits. TRUNCATE (a statement,
# not a row change) stays possible for operators who really mean to wipe a database.
APPEND_ONLY_FUNCTION = """
CREATE FUNCTION loyalty_transactions_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'loyalty_transactions is append-only: % is not allowed; write a void entry', TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$
"""
APPEND_ONLY_TRIGGER = """
CREATE TRIGGER loyalty_transactions_append_only
BEFORE UPDATE OR DELETE ON loyalty_transactions
FOR EACH ROW EXECUTE FUNCTION loyalty_transactions_reject_change()
"""


def upgrade() -> None:
    op.create_table(
        "idempotency_records",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("vendor_id", sa.Integer(), nullable=True),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response_body", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_records")),
        sa.UniqueConstraint("scope", "key", name=op.f("uq_idempotency_records_scope_key")),
    )
    op.create_index("ix_idempotency_records_created_at", "idempotency_records", ["created_at"], unique=False)
    op.create_table(
        "rate_limit_buckets",
        sa.Column("bucket", sa.String(length=200), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("bucket", "window_start", name=op.f("pk_rate_limit_buckets")),
    )
    op.create_table(
        "vendors",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("default_locale", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vendors")),
        sa.UniqueConstraint("slug", name=op.f("uq_vendors_slug")),
    )
    op.create_table(
        "vendor_totals",
        sa.Column("vendor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("slot", sa.SmallInteger(), nullable=False),
        sa.Column("cards", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("entries", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("stamps_issued", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("stamps_redeemed", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("points_issued", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("points_redeemed", sa.BigInteger(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(["vendor_id"], ["vendors.id"], name=op.f("fk_vendor_totals_vendor_id_vendors")),
        sa.PrimaryKeyConstraint("vendor_id", "slot", name=op.f("pk_vendor_totals")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("vendor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("key_prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["vendor_id"], ["vendors.id"], name=op.f("fk_api_keys_vendor_id_vendors")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_index(op.f("ix_api_keys_vendor_id"), "api_keys", ["vendor_id"], unique=False)
    op.create_index("ix_api_keys_vendor_id_created_at", "api_keys", ["vendor_id", "created_at"], unique=False)
    op.create_table(
        "customers",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("vendor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("email_normalised", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("locale", sa.String(length=8), nullable=True),
        sa.Column("marketing_consent", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["vendor_id"], ["vendors.id"], name=op.f("fk_customers_vendor_id_vendors")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
        sa.UniqueConstraint("vendor_id", "email_normalised", name=op.f("uq_customers_vendor_id_email_normalised")),
    )
    op.create_table(
        "loyalty_programs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("vendor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("program_type", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("stamps_target", sa.Integer(), nullable=False),
        sa.Column("stamps_reward_description", sa.String(length=500), nullable=True),
        sa.Column("points_per_euro", sa.Numeric(precision=12, scale=4), nullable=False),
        sa.Column("points_rewards", sa.JSON(), nullable=False),
        sa.Column("cooldown_minutes", sa.Integer(), nullable=False),
        sa.Column("max_daily_stamps", sa.Integer(), nullable=False),
        sa.Column("require_staff_pin", sa.Boolean(), nullable=False),
        sa.Column("card_name", sa.String(length=200), nullable=True),
        sa.Column("card_color", sa.String(length=7), nullable=True),
        sa.Column("logo_url", sa.String(length=1000), nullable=True),
        sa.Column("terms", sa.Text(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "program_type IN ('stamps', 'points', 'hybrid')", name=op.f("ck_loyalty_programs_program_type")
        ),
        sa.CheckConstraint("cooldown_minutes >= 0", name=op.f("ck_loyalty_programs_cooldown_not_negative")),
        sa.CheckConstraint("max_daily_stamps >= 1", name=op.f("ck_loyalty_programs_max_daily_stamps_positive")),
        sa.CheckConstraint("points_per_euro >= 0", name=op.f("ck_loyalty_programs_points_per_euro_not_negative")),
        sa.CheckConstraint("stamps_target >= 1", name=op.f("ck_loyalty_programs_stamps_target_positive")),
        sa.ForeignKeyConstraint(["vendor_id"], ["vendors.id"], name=op.f("fk_loyalty_programs_vendor_id_vendors")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_programs")),
        sa.UniqueConstraint("vendor_id", name=op.f("uq_loyalty_programs_vendor_id")),
    )
    op.create_table(
        "loyalty_cards",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("vendor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("program_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("card_number", sa.String(length=32), nullable=False),
        sa.Column("qr_code", sa.String(length=64), nullable=False),
        sa.Column("card_token", sa.String(length=64), nullable=False),
        sa.Column("stamp_count", sa.Integer(), nullable=False),
        sa.Column("total_stamps_earned", sa.Integer(), nullable=False),
        sa.Column("stamps_redeemed", sa.Integer(), nullable=False),
        sa.Column("points_balance", sa.BigInteger(), nullable=False),
        sa.Column("total_points_earned", sa.BigInteger(), nullable=False),
        sa.Column("total_points_redeemed", sa.BigInteger(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_stamp_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stamps_today", sa.Integer(), server_default="0", nullable=False),
        sa.Column("stamps_today_date", sa.Date(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("points_balance >= 0", name=op.f("ck_loyalty_cards_points_balance_not_negative")),
        sa.CheckConstraint("stamp_count >= 0", name=op.f("ck_loyalty_cards_stamp_count_not_negative")),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name=op.f("fk_loyalty_cards_customer_id_customers")),
        sa.ForeignKeyConstraint(
            ["program_id"], ["loyalty_programs.id"], name=op.f("fk_loyalty_cards_program_id_loyalty_programs")
        ),
        sa.ForeignKeyConstraint(["vendor_id"], ["vendors.id"], name=op.f("fk_loyalty_cards_vendor_id_vendors")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_cards")),
        sa.UniqueConstraint("card_number", name=op.f("uq_loyalty_cards_card_number")),
        sa.UniqueConstraint("card_token", name=op.f("uq_loyalty_cards_card_token")),
        sa.UniqueConstraint("program_id", "customer_id", name=op.f("uq_loyalty_cards_program_id_customer_id")),
        sa.UniqueConstraint("qr_code", name=op.f("uq_loyalty_cards_qr_code")),
    )
    op.create_index(
        "ix_loyalty_cards_vendor_id_enrolled_at", "loyalty_cards", ["vendor_id", "enrolled_at"], unique=False
    )
    op.create_table(
        "pin_guards",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("vendor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("program_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("terminal", sa.String(length=100), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["program_id"], ["loyalty_programs.id"], name=op.f("fk_pin_guards_program_id_loyalty_programs")
        ),
        sa.ForeignKeyConstraint(["vendor_id"], ["vendors.id"], name=op.f("fk_pin_guards_vendor_id_vendors")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pin_guards")),
        sa.UniqueConstraint("program_id", "terminal", name=op.f("uq_pin_guards_program_id_terminal")),
    )
    op.create_table(
        "staff_pins",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("vendor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("program_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("pin_hash", sa.String(length=100), nullable=False),
        sa.Column("pin_lookup", sa.String(length=64), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["program_id"], ["loyalty_programs.id"], name=op.f("fk_staff_pins_program_id_loyalty_programs")
        ),
        sa.ForeignKeyConstraint(["vendor_id"], ["vendors.id"], name=op.f("fk_staff_pins_vendor_id_vendors")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_pins")),
        sa.UniqueConstraint("program_id", "pin_lookup", name=op.f("uq_staff_pins_program_id_pin_lookup")),
    )
    op.create_index("ix_staff_pins_vendor_id", "staff_pins", ["vendor_id"], unique=False)
    op.create_table(
        "apple_device_registrations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("vendor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("card_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("device_library_identifier", sa.String(length=128), nullable=False),
        sa.Column("push_token", sa.String(length=256), nullable=False),
        sa.Column("pass_type_identifier", sa.String(length=200), nullable=False),
        sa.Column("serial_number", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["card_id"],
            ["loyalty_cards.id"],
            name=op.f("fk_apple_device_registrations_card_id_loyalty_cards"),
        ),
        sa.ForeignKeyConstraint(
            ["vendor_id"], ["vendors.id"], name=op.f("fk_apple_device_registrations_vendor_id_vendors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_apple_device_registrations")),
        sa.UniqueConstraint(
            "device_library_identifier",
            "pass_type_identifier",
            "serial_number",
            name=op.f("uq_apple_device_registrations_device_pass_serial"),
        ),
    )
    op.create_index(
        op.f("ix_apple_device_registrations_card_id"), "apple_device_registrations", ["card_id"], unique=False
    )
    op.create_table(
        "loyalty_transactions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("vendor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("program_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("card_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("staff_pin_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("transaction_type", sa.String(length=20), nullable=False),
        sa.Column("stamps_delta", sa.Integer(), nullable=False),
        sa.Column("points_delta", sa.BigInteger(), nullable=False),
        sa.Column("stamps_balance_after", sa.Integer(), nullable=False),
        sa.Column("points_balance_after", sa.BigInteger(), nullable=False),
        sa.Column("purchase_amount_cents", sa.BigInteger(), nullable=True),
        sa.Column("order_reference", sa.String(length=200), nullable=True),
        sa.Column("reward_id", sa.Integer(), nullable=True),
        sa.Column("reward_description", sa.String(length=500), nullable=True),
        sa.Column("voids_transaction_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("client_ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=500), nullable=True),
        sa.Column("transaction_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["card_id"], ["loyalty_cards.id"], name=op.f("fk_loyalty_transactions_card_id_loyalty_cards")
        ),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["loyalty_programs.id"],
            name=op.f("fk_loyalty_transactions_program_id_loyalty_programs"),
        ),
        sa.ForeignKeyConstraint(
            ["staff_pin_id"], ["staff_pins.id"], name=op.f("fk_loyalty_transactions_staff_pin_id_staff_pins")
        ),
        sa.ForeignKeyConstraint(["vendor_id"], ["vendors.id"], name=op.f("fk_loyalty_transactions_vendor_id_vendors")),
        sa.ForeignKeyConstraint(
            ["voids_transaction_id"],
            ["loyalty_transactions.id"],
            name=op.f("fk_loyalty_transactions_voids_transaction_id_loyalty_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_transactions")),
        sa.UniqueConstraint("voids_transaction_id", name=op.f("uq_loyalty_transactions_voids_transaction_id")),
    )
    op.create_index(
        "ix_loyalty_transactions_card_id_transaction_at",
        "loyalty_transactions",
        ["card_id", "transaction_at"],
        unique=False,
    )
    op.create_index(
        "ix_loyalty_transactions_vendor_id_transaction_at",
        "loyalty_transactions",
        ["vendor_id", "transaction_at"],
        unique=False,
    )
    op.create_table(
        "wallet_outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("vendor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("card_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("pass_version", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["card_id"], ["loyalty_cards.id"], name=op.f("fk_wallet_outbox_card_id_loyalty_cards")),
        sa.ForeignKeyConstraint(["vendor_id"], ["vendors.id"], name=op.f("fk_wallet_outbox_vendor_id_vendors")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_outbox")),
    )
    op.create_index(
        "ix_wallet_outbox_status_next_attempt_at",
        "wallet_outbox",
        ["status", "next_attempt_at"],
        unique=False,
    )
    op.create_index("ix_customers_vendor_id_name", "customers", ["vendor_id", "name"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY_FUNCTION)
        op.execute(APPEND_ONLY_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS loyalty_transactions_append_only ON loyalty_transactions")
        op.execute("DROP FUNCTION IF EXISTS loyalty_transactions_reject_change()")
    op.drop_index("ix_customers_vendor_id_name", table_name="customers")
    op.drop_index("ix_wallet_outbox_status_next_attempt_at", table_name="wallet_outbox")
    op.drop_table("wallet_outbox")
    op.drop_index("ix_loyalty_transactions_vendor_id_transaction_at", table_name="loyalty_transactions")
    op.drop_index("ix_loyalty_transactions_card_id_transaction_at", table_name="loyalty_transactions")
    op.drop_table("loyalty_transactions")
    op.drop_index(op.f("ix_apple_device_registrations_card_id"), table_name="apple_device_registrations")
    op.drop_table("apple_device_registrations")
    op.drop_index("ix_staff_pins_vendor_id", table_name="staff_pins")
    op.drop_table("staff_pins")
    op.drop_table("pin_guards")
    op.drop_index("ix_loyalty_cards_vendor_id_enrolled_at", table_name="loyalty_cards")
    op.drop_table("loyalty_cards")
    op.drop_table("loyalty_programs")
    op.drop_table("customers")
    op.drop_index("ix_api_keys_vendor_id_created_at", table_name="api_keys")
    op.drop_index(op.f("ix_api_keys_vendor_id"), table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_table("vendor_totals")
    op.drop_table("vendors")
    op.drop_table("rate_limit_buckets")
    op.drop_index("ix_idempotency_records_created_at", table_name="idempotency_records")
    op.drop_table("idempotency_records")
