"""Housekeeping on a schedule: what the service keeps only for a while is deleted once it is due.

- Idempotency-Key answers older than LOYALTY_IDEMPOTENCY_TTL_HOURS (they may hold personal data, and
  otherwise grow without end);
- rate-limit buckets of windows that are over (a bucket per client address, enrolment and wrong keys);
- wallet outbox rows sent more than LOYALTY_OUTBOX_SENT_RETENTION_HOURS ago (kept that long for the
  push statistics);
- browser sessions that ended: revoked, or unused for LOYALTY_TERMINAL_SESSION_DAYS;
- stamps refused during a cooldown, after 30 days (the anomalies read 7).

Every `loyalty serve` process runs it every LOYALTY_HOUSEKEEPING_INTERVAL_SECONDS; processes that run
it at once only delete the same rows twice. `loyalty db purge` runs it once (for cron, or by hand).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.services import cooldown_refusals, idempotency, outbox, rate_limits, web_sessions
from loyalty.services.accounts import SIGN_IN_WINDOW_SECONDS
from loyalty.services.context import Context
from loyalty.services.terminals import PAIRING_WINDOW_SECONDS

log = logging.getLogger("loyalty.housekeeping")


@dataclass(frozen=True)
class Purged:
    idempotency_records: int
    rate_limit_buckets: int
    wallet_outbox_rows: int = 0
    web_sessions: int = 0
    cooldown_refusals: int = 0


async def purge_once(database: Database, settings: Settings, clock: Clock) -> Purged:
    async with database.unit_of_work() as session:
        ctx = Context(session, settings, clock)
        # A bucket is kept while its window may still be running, for the longest window any limit uses.
        longest_window = max(
            settings.enroll_rate_window_seconds,
            settings.auth_failure_window_seconds,
            PAIRING_WINDOW_SECONDS,
            SIGN_IN_WINDOW_SECONDS,
        )
        return Purged(
            idempotency_records=await idempotency.purge_expired(ctx),
            rate_limit_buckets=await rate_limits.purge_past_windows(ctx, longest_window),
            wallet_outbox_rows=await outbox.purge_sent(ctx, timedelta(hours=settings.outbox_sent_retention_hours)),
            web_sessions=await web_sessions.purge_ended(ctx),
            cooldown_refusals=await cooldown_refusals.purge_old(ctx),
        )


async def run_forever(database: Database, settings: Settings, clock: Clock) -> None:
    """Purges every interval until cancelled; a failed round is logged in one line and retried next time."""
    while True:
        await asyncio.sleep(settings.housekeeping_interval_seconds)
        try:
            purged = await purge_once(database, settings, clock)
        except Exception as exc:  # the database may be down: the next round tries again
            log.warning(
                "housekeeping failed (%s); next round in %s s",
                type(exc).__name__,
                settings.housekeeping_interval_seconds,
            )
        else:
            if any(vars(purged).values()):
                log.info(
                    "purged %d idempotency records, %d rate-limit buckets, %d sent wallet updates, %d ended "
                    "browser sessions and %d old cooldown refusals",
                    purged.idempotency_records,
                    purged.rate_limit_buckets,
                    purged.wallet_outbox_rows,
                    purged.web_sessions,
                    purged.cooldown_refusals,
                )
