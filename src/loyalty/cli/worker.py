"""`loyalty worker`: drains the wallet outbox."""

from __future__ import annotations

from loyalty.cli.common import _require_current_schema, _require_working_wallets, _run, _settings


def worker() -> None:
    """Drain the wallet outbox: push each changed pass to the devices that hold it (APNs).

    Run as many as you like, on any machines: they share the work and never send one row twice at
    once. SIGTERM (or Ctrl+C) stops it after the row in hand; it exits 0. One JSON log line per push.
    """
    import logging

    from loyalty.worker import run_worker

    settings = _settings()
    _require_working_wallets(settings)
    _require_current_schema(settings)
    logging.basicConfig(level=settings.log_level.upper(), format="%(message)s")
    _run(lambda: run_worker(settings))
