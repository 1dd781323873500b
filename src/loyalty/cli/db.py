"""`loyalty db …`: upgrade, downgrade, rebuild-totals, purge."""

from __future__ import annotations

import typer

from loyalty.cli.common import _run, _schema_state, _settings
from loyalty.clock import SystemClock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.services import totals

db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True, rich_markup_mode=None)


def _reached(settings: Settings) -> str:
    """`database at revision ID` after an upgrade or downgrade: the revision id the database holds now."""
    state = _schema_state(settings)
    if state.revision is None:
        return "database at revision base (no schema)"
    return f"database at revision {state.revision}" + (" (head)" if state.ok else f" (head is {state.head})")


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Create or migrate the schema to the latest (or given) revision."""
    from loyalty import migrate

    settings = _settings()
    migrate.upgrade(settings.database_url, revision)
    typer.echo(_reached(settings), err=True)


@db_app.command("downgrade")
def db_downgrade(
    revision: str = typer.Argument("-1", help="Target revision; 'base' removes every table."),
) -> None:
    """Step the schema back (by default one revision)."""
    from loyalty import migrate

    settings = _settings()
    migrate.downgrade(settings.database_url, revision)
    typer.echo(_reached(settings), err=True)


@db_app.command("rebuild-totals")
def db_rebuild_totals() -> None:
    """Recompute every vendor's running totals from its cards and ledger (after loading data with SQL)."""
    settings = _settings()

    async def rebuild() -> int:
        database = Database.from_url(settings.database_url)
        try:
            async with database.unit_of_work() as session:
                return await totals.rebuild(session)
        finally:
            await database.dispose()

    typer.echo(f"totals rebuilt for {_run(rebuild)} vendors", err=True)


@db_app.command("purge")
def db_purge() -> None:
    """Delete what is kept only for a while and is now due: expired Idempotency-Key answers, past
    rate-limit windows, sent wallet updates and ended browser sessions (`loyalty serve` also does this every
    LOYALTY_HOUSEKEEPING_INTERVAL_SECONDS)."""
    from loyalty.housekeeping import purge_once

    settings = _settings()

    async def purge() -> str:
        database = Database.from_settings(settings)
        try:
            purged = await purge_once(database, settings, SystemClock())
        finally:
            await database.dispose()
        records, buckets = purged.idempotency_records, purged.rate_limit_buckets
        return (
            f"purged {records} idempotency records, {buckets} rate-limit buckets, {purged.wallet_outbox_rows}"
            f" sent wallet updates, {purged.web_sessions} ended browser sessions and {purged.cooldown_refusals}"
            " old cooldown refusals"
        )

    typer.echo(_run(purge), err=True)
