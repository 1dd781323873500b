"""The ledger stays append-only, with one controlled exception: erasing a customer may blank the free
text of their entries (`notes`, `order_reference`), where staff may have typed personal data.

The trigger lets an UPDATE through only inside a transaction that set `loyalty.erasure` to `on`
(SET LOCAL, services/customers.py) and only when it sets those two columns to NULL and changes nothing
else; every other UPDATE, and every DELETE, is refused as before (docs/rules.md).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 16:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FREE_TEXT = "'notes', 'order_reference'"

WITH_ERASURE = f"""
CREATE OR REPLACE FUNCTION loyalty_transactions_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND current_setting('loyalty.erasure', true) = 'on'
       AND NEW.notes IS NULL AND NEW.order_reference IS NULL
       AND to_jsonb(NEW) - ARRAY[{FREE_TEXT}] = to_jsonb(OLD) - ARRAY[{FREE_TEXT}] THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'loyalty_transactions is append-only: % is not allowed; write a void entry', TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$
"""

APPEND_ONLY = """
CREATE OR REPLACE FUNCTION loyalty_transactions_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'loyalty_transactions is append-only: % is not allowed; write a void entry', TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(WITH_ERASURE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY)
