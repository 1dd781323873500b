"""What the service keeps only for a while is deleted on schedule: expired Idempotency-Key answers
(which may hold personal data), rate-limit buckets of windows that are over, ended browser sessions."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from loyalty import housekeeping
from loyalty.clock import FixedClock
from loyalty.config import Settings
from loyalty.db import Database
from loyalty.models import CooldownRefusal, IdempotencyRecord, RateLimitBucket, WebSession
from loyalty.services import idempotency, rate_limits, terminals, web_sessions
from loyalty.services.context import Actor, Context
from loyalty.services.terminals import PAIRING_WINDOW_SECONDS
from tests.tenants import Tenant

pytestmark = pytest.mark.anyio


async def _counts(database: Database) -> tuple[int, int]:
    async with database.unit_of_work() as session:
        records = await session.scalar(select(func.count()).select_from(IdempotencyRecord))
        buckets = await session.scalar(select(func.count()).select_from(RateLimitBucket))
    return int(records or 0), int(buckets or 0)


async def _keep_an_answer_and_a_bucket(database: Database, settings: Settings, clock: FixedClock) -> None:
    async with database.unit_of_work() as session:
        ctx = Context(session, settings, clock)
        await idempotency.claim(ctx, "program:1", "key-1", "fingerprint")
        await idempotency.remember(ctx, "program:1", "key-1", idempotency.StoredAnswer(201, '{"email":"a@b.c"}'))
        await rate_limits.hit(ctx, "enroll:203.0.113.7", limit=10, window_seconds=60)


async def test_a_purge_deletes_only_what_is_due(database: Database, settings: Settings, clock: FixedClock) -> None:
    await _keep_an_answer_and_a_bucket(database, settings, clock)
    assert await housekeeping.purge_once(database, settings, clock) == housekeeping.Purged(0, 0)

    clock.advance(timedelta(hours=settings.idempotency_ttl_hours, seconds=1))
    purged = await housekeeping.purge_once(database, settings, clock)

    assert purged == housekeeping.Purged(idempotency_records=1, rate_limit_buckets=1)
    assert await _counts(database) == (0, 0)


async def test_every_server_process_purges_on_its_schedule(
    database: Database, settings: Settings, clock: FixedClock
) -> None:
    """The loop `loyalty serve` runs beside the app (app.py's lifespan), here with a short interval."""
    await _keep_an_answer_and_a_bucket(database, settings, clock)
    clock.advance(timedelta(hours=settings.idempotency_ttl_hours, seconds=1))
    every_moment = settings.model_copy(update={"housekeeping_interval_seconds": 0.05})

    loop = asyncio.create_task(housekeeping.run_forever(database, every_moment, clock))
    try:
        for _ in range(100):
            if await _counts(database) == (0, 0):
                break
            await asyncio.sleep(0.05)
    finally:
        loop.cancel()
    assert await _counts(database) == (0, 0)


async def test_a_pairing_limit_outlives_the_shorter_windows(
    database: Database, settings: Settings, clock: FixedClock
) -> None:
    """A pairing window lasts 10 minutes: a purge 6 minutes into it must not give the address a fresh allowance."""
    clock.advance(timedelta(seconds=-(clock.now().timestamp() % PAIRING_WINDOW_SECONDS)))  # a window's start
    async with database.unit_of_work() as session:
        await rate_limits.hit(Context(session, settings, clock), "pair:203.0.113.7", limit=5, window_seconds=600)
    clock.advance(timedelta(minutes=6))
    assert (await housekeeping.purge_once(database, settings, clock)).rate_limit_buckets == 0
    assert await _counts(database) == (0, 1)


async def test_ended_browser_sessions_are_deleted(
    database: Database, settings: Settings, clock: FixedClock, tenant: Tenant
) -> None:
    async with database.unit_of_work() as session:
        ctx = Context(session, settings, clock, Actor(vendor_id=tenant.vendor_id))
        kept = (await terminals.create_terminal(ctx, terminals.TerminalCreate(name="kept"))).terminal
        revoked = (await terminals.create_terminal(ctx, terminals.TerminalCreate(name="revoked"))).terminal
        for terminal in (kept, revoked):
            await web_sessions.open_terminal_session(ctx, terminal, "203.0.113.7", "test")
        await terminals.revoke_terminal(ctx, revoked.id)
    assert (await housekeeping.purge_once(database, settings, clock)).web_sessions == 1  # the revoked one
    clock.advance(timedelta(days=settings.terminal_session_days, seconds=1))
    assert (await housekeeping.purge_once(database, settings, clock)).web_sessions == 1  # unused for 90 days
    async with database.unit_of_work() as session:
        assert await session.scalar(select(func.count()).select_from(WebSession)) == 0


async def test_cooldown_refusals_are_kept_30_days(
    database: Database, settings: Settings, clock: FixedClock, tenant: Tenant
) -> None:
    async with database.unit_of_work() as session:
        ctx = Context(session, settings, clock, Actor(vendor_id=tenant.vendor_id))
        till = (await terminals.create_terminal(ctx, terminals.TerminalCreate(name="Till"))).terminal
        session.add(
            CooldownRefusal(
                vendor_id=tenant.vendor_id, card_id=tenant.card_id, terminal_id=till.id, refused_at=clock.now()
            )
        )
    clock.advance(timedelta(days=30))
    assert (await housekeeping.purge_once(database, settings, clock)).cooldown_refusals == 0  # 30 days: still read
    clock.advance(timedelta(seconds=1))
    assert (await housekeeping.purge_once(database, settings, clock)).cooldown_refusals == 1
