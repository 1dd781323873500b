"""Fixed-window rate limits counted in the database, shared by every worker on every machine.

Count in a transaction of its own, committed before the guarded request's (`hit_apart`), so a request
that then fails (a 409 on enrolment, say) still uses up its allowance.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from loyalty.clock import Clock
from loyalty.config import Settings
from loyalty.db import Unit
from loyalty.errors import RateLimited
from loyalty.models import RateLimitBucket
from loyalty.services.context import Context
from loyalty.services.upserts import upsert_increment


async def hit(ctx: Context, bucket: str, *, limit: int, window_seconds: int) -> None:
    """Counts one request against `bucket` in its fixed window of `window_seconds` seconds (windows start
    at multiples of it since the epoch, UTC), in the caller's transaction, and drops the bucket's past
    windows. Raises RateLimited (429, Retry-After = seconds to the window's end) past `limit` requests."""
    now = ctx.clock.now()
    window_start = _window_start(now, window_seconds)
    hits = await ctx.session.scalar(
        upsert_increment(
            ctx.session,
            RateLimitBucket.__table__,  # type: ignore[arg-type]
            {"bucket": bucket, "window_start": window_start},
            "hits",
        )
    )
    await ctx.session.execute(
        delete(RateLimitBucket).where(RateLimitBucket.bucket == bucket, RateLimitBucket.window_start < window_start)
    )
    if hits is not None and hits > limit:
        window_end = window_start.timestamp() + window_seconds
        raise RateLimited(retry_after=max(1, math.ceil(window_end - now.timestamp())))


def _window_start(now: datetime, window_seconds: int) -> datetime:
    """The start of the fixed window `now` falls in: windows start at multiples of `window_seconds` since the epoch."""
    return datetime.fromtimestamp(math.floor(now.timestamp() / window_seconds) * window_seconds, UTC)


async def hit_apart(
    unit: Unit, settings: Settings, clock: Clock, bucket: str, *, limit: int, window_seconds: int
) -> None:
    """`hit`, committed on the unit's connection before the unit's transaction begins (`Unit.apart`), so
    a request that then fails still uses up its allowance. Raises RateLimited (429) past `limit`."""

    async def count(session: AsyncSession) -> None:
        await hit(Context(session, settings, clock), bucket, limit=limit, window_seconds=window_seconds)

    await unit.apart(count)


async def refund(ctx: Context, bucket: str, *, window_seconds: int) -> None:
    """Takes back one request counted against `bucket` in the current window, in the caller's
    transaction: for limits that count failures only (a pairing code that turned out right). Raises nothing."""
    window_start = _window_start(ctx.clock.now(), window_seconds)
    await ctx.session.execute(
        update(RateLimitBucket)
        .where(RateLimitBucket.bucket == bucket, RateLimitBucket.window_start == window_start, RateLimitBucket.hits > 0)
        .values(hits=RateLimitBucket.hits - 1)
    )


async def purge_past_windows(ctx: Context, older_than_seconds: int) -> int:
    """Deletes every bucket whose window began more than `older_than_seconds` ago (the longest window
    in use), including those of addresses never seen again. Returns how many. Raises nothing."""
    cutoff = ctx.clock.now() - timedelta(seconds=older_than_seconds)
    result = await ctx.session.execute(delete(RateLimitBucket).where(RateLimitBucket.window_start < cutoff))
    return int(result.rowcount)  # type: ignore[attr-defined]
