"""PostgreSQL tells every worker when a caller's identity may have changed: a statement that writes
`api_keys`, `vendors` or `loyalty_programs` sends `NOTIFY loyalty_key_holders` (delivered at its commit),
and each worker drops the callers it cached (`api/key_holders.py`), so a revoked key, a switched-off
vendor or a changed programme takes effect without a query per request. SQLite: nothing (no cache there).

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 05:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("api_keys", "vendors", "loyalty_programs")

NOTIFY_FUNCTION = """
CREATE FUNCTION loyalty_notify_key_holders() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('loyalty_key_holders', '');  -- one per transaction: PostgreSQL folds equal ones
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(NOTIFY_FUNCTION)
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_notify_key_holders AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION loyalty_notify_key_holders()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"DROP TRIGGER {table}_notify_key_holders ON {table}")
    op.execute("DROP FUNCTION loyalty_notify_key_holders()")
