"""`loyalty keys create-admin`."""

from __future__ import annotations

import typer

from loyalty.cli.common import _run, _settings
from loyalty.clock import SystemClock
from loyalty.db import Database
from loyalty.services import api_keys
from loyalty.services.context import Context

keys_app = typer.Typer(help="API keys.", no_args_is_help=True, rich_markup_mode=None)


@keys_app.command("create-admin")
def create_admin(name: str = typer.Option(..., "--name", help="Who or what will use the key.")) -> None:
    """Create an admin API key and print it alone on stdout (it is shown only this once)."""
    settings = _settings()

    async def create() -> str:
        database = Database.from_url(settings.database_url)
        try:
            async with database.unit_of_work() as session:
                issued = await api_keys.create_admin_key(Context(session, settings, SystemClock()), name)
                return issued.secret
        finally:
            await database.dispose()

    typer.echo(_run(create))
