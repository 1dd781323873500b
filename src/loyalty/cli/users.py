"""`loyalty users create-admin`: the first platform admin comes from the command line (PAGES.md)."""

from __future__ import annotations

import typer

from loyalty.cli.common import _run, _settings
from loyalty.clock import SystemClock
from loyalty.db import Database
from loyalty.services import accounts
from loyalty.services.context import Context

users_app = typer.Typer(help="People who sign in.", no_args_is_help=True, rich_markup_mode=None)


@users_app.command("create-admin")
def create_admin(email: str = typer.Option(..., "--email", help="The admin's e-mail: how they sign in.")) -> None:
    """Create a platform admin and print the one-time link (7 days) where they choose their password, alone on
    stdout (it is shown only this once)."""
    settings = _settings()

    async def create() -> str:
        database = Database.from_url(settings.database_url)
        try:
            async with database.unit_of_work() as session:
                invitation = await accounts.create_admin(Context(session, settings, SystemClock()), email)
                return settings.public_base_url.rstrip("/") + invitation.path
        finally:
            await database.dispose()

    typer.echo(_run(create))
