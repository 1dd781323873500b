"""The `loyalty` command: serve, demo, db upgrade/downgrade, keys.

Errors a user can cause (a bad setting or database URL, an unreachable database, a schema behind the
code, a port in use) print one `loyalty: error:` line to stderr and exit 1; tracebacks are for bugs.
The settings are read and checked once, before a command does anything, and every command that uses
the database first says which one on stderr (password hidden), so stdout keeps only what a script reads.
"""

from __future__ import annotations

import sys
import threading

import typer
from sqlalchemy.exc import DBAPIError, OperationalError

from loyalty import __version__
from loyalty.cli import db, demo, keys, serve, users, wallet, worker
from loyalty.cli.common import CliError
from loyalty.db import DatabaseUrlError

# rich_markup_mode=None: Click's plain help, where a flag reads `--migrate`, not `--migrate <bool>`
# (Typer's rich panel gives every option, flags and --help included, a type column).
app = typer.Typer(
    help="Loyalty platform: stamp cards and points for small vendors.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.add_typer(db.db_app, name="db")
app.add_typer(keys.keys_app, name="keys")
app.add_typer(users.users_app, name="users")
app.add_typer(wallet.wallet_app, name="wallet")
app.command()(serve.serve)
app.command()(worker.worker)
app.command()(demo.demo)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"loyalty {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_print_version, help="Print the version and exit."
    ),
) -> None:
    """Loyalty platform: stamp cards and points for small vendors."""


def main() -> None:
    _silence_closed_loop_in_worker_threads()
    try:
        app()
    except CliError as exc:
        _fail(str(exc))
    except DatabaseUrlError as exc:
        _fail(str(exc))
    except (OperationalError, DBAPIError, OSError) as exc:
        line = _first_line(exc)
        if _is_missing_table(line):
            _fail(f"the database has no schema yet ({line}); run `loyalty db upgrade` first")
        _fail(f"cannot reach the database: {line}")


def _is_missing_table(line: str) -> bool:
    return "no such table" in line or (line.startswith("relation ") and line.endswith("does not exist"))


def _silence_closed_loop_in_worker_threads() -> None:
    """After a failed SQLite connection, aiosqlite's worker thread may answer once `asyncio.run` has
    closed its loop (omnilib/aiosqlite#241) and print a thread traceback under our one-line error."""
    default_hook = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        if isinstance(args.exc_value, RuntimeError) and str(args.exc_value) == "Event loop is closed":
            return
        default_hook(args)

    threading.excepthook = hook


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _fail(message: str) -> None:
    for line in message.splitlines():
        typer.echo(f"loyalty: error: {line}", err=True)
    sys.exit(1)
