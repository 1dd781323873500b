"""`loyalty serve`: the HTTP API under uvicorn."""

from __future__ import annotations

import typer

from loyalty.cli.common import _require_current_schema, _require_free_port, _require_working_wallets, _settings


def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="TCP port."),
    workers: int = typer.Option(1, min=1, help="Worker processes (one per core; see docs/operations.md)."),
    migrate_first: bool = typer.Option(False, "--migrate", help="Run `db upgrade` before serving."),
) -> None:
    """Run the HTTP API with uvicorn.

    SIGTERM (or Ctrl+C) stops it gracefully: no new connections are served,
    the requests in flight finish and answer, and it exits with status 0.
    Requests still running after LOYALTY_SHUTDOWN_GRACE_SECONDS (30) are
    cancelled and roll back. With --workers N, every worker stops so.
    """
    import signal

    import uvicorn

    from loyalty import migrate

    settings = _settings()
    _require_free_port(host, port)
    _require_working_wallets(settings)
    if migrate_first:
        migrate.upgrade(settings.database_url)
    _require_current_schema(settings)

    def exit_cleanly(_signal: int, _frame: object) -> None:
        raise SystemExit(0)

    # uvicorn drains on SIGTERM, then raises SIGTERM again against the handler it found at start-up.
    # Under Python's default that ends the process by the signal (status 143, -15 to a parent), which
    # a process manager may read as a failed stop: this handler makes it, and a SIGTERM that comes
    # before uvicorn's own handler is in place, exit status 0. (With --workers N the supervisor
    # replaces this handler with its own, passes SIGTERM on to the workers and exits 0 itself.)
    signal.signal(signal.SIGTERM, exit_cleanly)
    uvicorn.run(
        "loyalty.app:create_app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level.lower(),
        access_log=False,  # the app logs one structured line per request itself
        proxy_headers=False,  # the app reads X-Forwarded-For itself, from LOYALTY_TRUSTED_PROXIES only
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
    )
