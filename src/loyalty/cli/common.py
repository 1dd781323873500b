"""What the `loyalty` commands share: `CliError`, the settings read and checked once (`_settings`), the
database described for people, `_run`, and the checks `serve`, `worker` and `demo` make before starting."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from loyalty.clock import SystemClock
from loyalty.config import Settings
from loyalty.db import Database

if TYPE_CHECKING:
    from loyalty.migrate import SchemaState  # imported when a command needs it: start-up stays quick

T = TypeVar("T")


class CliError(Exception):
    """A problem the user can fix, reported in one line."""


_checked: list[Settings] = []


def _settings() -> Settings:
    """The settings, read and checked once per command (every `LOYALTY_*` variable and `.env`), and
    the database they name, said in one line on stderr."""
    if _checked:
        return _checked[0]
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = f"LOYALTY_{str(first['loc'][0]).upper()}"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise CliError(message if message.startswith(name) else f"invalid setting {name}: {message}") from exc
    _checked.append(settings)
    typer.echo(f"loyalty: database {describe_database(settings.database_url)}", err=True)
    return settings


def describe_database(url: str) -> str:
    """The database a URL names, for people: the URL with its password hidden, and for SQLite the
    absolute path of the file (a relative path is relative to the working directory)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"SQLite file {Path(parsed.database or '').resolve()}"
    return f"PostgreSQL {parsed.render_as_string(hide_password=True)}"


def _run(coroutine_factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(coroutine_factory())


def _require_free_port(host: str, port: int) -> None:
    """Bind the address once, as uvicorn will (SO_REUSEADDR), so a port in use is one line, not
    uvicorn's log and exit."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise CliError(
            f"cannot listen on {host}:{port}: {reason} (another server there? choose another --port)"
        ) from exc


def _require_current_schema(settings: Settings) -> None:
    """Refuse to serve a database whose schema is not the code's migration head: every request
    would fail. One look at `alembic_version` at start-up; /health keeps looking after that."""
    state = _schema_state(settings)
    if not state.ok:
        raise CliError(state.advice())


def _schema_state(settings: Settings) -> SchemaState:
    """The database's migration revision against the code's head (`migrate.SchemaState`)."""
    from loyalty import migrate

    async def read() -> migrate.SchemaState:
        database = Database.from_url(settings.database_url)
        try:
            async with database.engine.connect() as connection:
                return await migrate.schema_state(connection)
        finally:
            await database.dispose()

    return _run(read)


def _require_working_wallets(settings: Settings) -> None:
    """Refuse to serve passes no device would accept: every problem of the wallet set-up, one line each."""
    from loyalty.wallet.apple import passes
    from loyalty.wallet.apple.credentials import AppleWalletMisconfigured
    from loyalty.wallet.google import issuer
    from loyalty.wallet.google.credentials import GoogleWalletMisconfigured

    problems = []
    try:
        passes.load_checked(settings, SystemClock().now())
    except AppleWalletMisconfigured as exc:
        problems += [f"Apple Wallet: {problem}" for problem in exc.problems]
    try:
        issuer.load_checked(settings)
    except GoogleWalletMisconfigured as exc:
        problems += [f"Google Wallet: {problem}" for problem in exc.problems]
    if problems:
        raise CliError("\n".join(problems))
