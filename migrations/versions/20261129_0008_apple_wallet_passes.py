"""Apple Wallet: each card gets its pass's serial number and authentication token, and a commit-ordered
update tag; each programme its shop locations; device identifiers and push tokens become text.

`pass_changed_xid` is what the PassKit list call compares `passesUpdatedSince` with (WALLET.md, "Routes").
A trigger sets it whenever a card's pass version (`updated_at`) moves, so no writer can forget it:
- PostgreSQL: the changing transaction's id, `pg_current_xact_id()`. The list answers the snapshot's
  xmin as its tag; every transaction below it has ended, so a change committed late with a lower id
  is still at or above a tag given out before it committed.
- SQLite serialises writers: one more than the highest tag is commit-ordered there (the index keeps
  that max() a single look-up).

Existing cards get a random serial and token here, in batches.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 18:00:00
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1_000

POSTGRES_TAG_FUNCTION = """
CREATE FUNCTION loyalty_cards_tag_pass_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.updated_at IS DISTINCT FROM OLD.updated_at THEN
        NEW.pass_changed_xid := pg_current_xact_id()::text::bigint;
    END IF;
    RETURN NEW;
END
$$
"""
POSTGRES_TAG_TRIGGER = """
CREATE TRIGGER loyalty_cards_tag_pass_change BEFORE INSERT OR UPDATE ON loyalty_cards
FOR EACH ROW EXECUTE FUNCTION loyalty_cards_tag_pass_change()
"""
SQLITE_NEXT_TAG = "(SELECT coalesce(max(pass_changed_xid), 0) + 1 FROM loyalty_cards)"
SQLITE_TAG_TRIGGERS = (
    f"""
CREATE TRIGGER loyalty_cards_tag_pass_insert AFTER INSERT ON loyalty_cards
BEGIN
    UPDATE loyalty_cards SET pass_changed_xid = {SQLITE_NEXT_TAG} WHERE id = NEW.id;
END
""",
    f"""
CREATE TRIGGER loyalty_cards_tag_pass_update AFTER UPDATE OF updated_at ON loyalty_cards
BEGIN
    UPDATE loyalty_cards SET pass_changed_xid = {SQLITE_NEXT_TAG} WHERE id = NEW.id;
END
""",
)


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("loyalty_cards") as cards:
        cards.add_column(sa.Column("pass_serial_number", sa.String(length=64), nullable=True))
        cards.add_column(sa.Column("pass_authentication_token", sa.String(length=64), nullable=True))
        cards.add_column(sa.Column("pass_changed_xid", sa.BigInteger(), nullable=False, server_default="0"))
    _backfill_pass_identities()
    with op.batch_alter_table("loyalty_cards") as cards:
        cards.alter_column("pass_serial_number", existing_type=sa.String(length=64), nullable=False)
        cards.alter_column("pass_authentication_token", existing_type=sa.String(length=64), nullable=False)
        cards.create_unique_constraint(op.f("uq_loyalty_cards_pass_serial_number"), ["pass_serial_number"])
    if postgres:
        op.execute(POSTGRES_TAG_FUNCTION)
        op.execute(POSTGRES_TAG_TRIGGER)
    else:
        op.create_index("ix_loyalty_cards_pass_changed_xid", "loyalty_cards", ["pass_changed_xid"])
        for trigger in SQLITE_TAG_TRIGGERS:
            op.execute(trigger)

    with op.batch_alter_table("loyalty_programs") as programs:
        programs.add_column(sa.Column("locations", sa.JSON(), nullable=False, server_default="[]"))

    with op.batch_alter_table("apple_device_registrations") as registrations:
        registrations.alter_column("device_library_identifier", existing_type=sa.String(length=128), type_=sa.Text())
        registrations.alter_column("push_token", existing_type=sa.String(length=256), type_=sa.Text())


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("apple_device_registrations") as registrations:
        registrations.alter_column("push_token", existing_type=sa.Text(), type_=sa.String(length=256))
        registrations.alter_column("device_library_identifier", existing_type=sa.Text(), type_=sa.String(length=128))
    with op.batch_alter_table("loyalty_programs") as programs:
        programs.drop_column("locations")
    if postgres:
        op.execute("DROP TRIGGER loyalty_cards_tag_pass_change ON loyalty_cards")
        op.execute("DROP FUNCTION loyalty_cards_tag_pass_change()")
    else:
        op.execute("DROP TRIGGER loyalty_cards_tag_pass_insert")
        op.execute("DROP TRIGGER loyalty_cards_tag_pass_update")
        op.drop_index("ix_loyalty_cards_pass_changed_xid", table_name="loyalty_cards")
    with op.batch_alter_table("loyalty_cards") as cards:
        cards.drop_constraint(op.f("uq_loyalty_cards_pass_serial_number"), type_="unique")
        cards.drop_column("pass_changed_xid")
        cards.drop_column("pass_authentication_token")
        cards.drop_column("pass_serial_number")


def _backfill_pass_identities() -> None:
    """A random serial and token for every card made before this revision, `BATCH` cards per UPDATE round."""
    bind = op.get_bind()
    cards = sa.table(
        "loyalty_cards",
        sa.column("id", sa.BigInteger()),
        sa.column("pass_serial_number", sa.String()),
        sa.column("pass_authentication_token", sa.String()),
    )
    update = (
        cards.update()
        .where(cards.c.id == sa.bindparam("card_id"))
        .values(pass_serial_number=sa.bindparam("serial"), pass_authentication_token=sa.bindparam("token"))
    )
    while True:
        ids = bind.execute(
            sa.select(cards.c.id).where(cards.c.pass_serial_number.is_(None)).order_by(cards.c.id).limit(BATCH)
        ).scalars()
        rows = [
            {"card_id": card_id, "serial": secrets.token_hex(16), "token": secrets.token_urlsafe(32)} for card_id in ids
        ]
        if not rows:
            return
        bind.execute(update, rows)
