"""Idempotency-Key: the first successful answer to a write is stored and replayed on repeats.

`claim` inserts the key inside the request's own transaction. On PostgreSQL a concurrent repeat's
INSERT waits on the unique index until the first transaction ends: if it committed, the repeat finds
the stored answer and replays it; if it rolled back (the write failed), the repeat runs afresh.
On SQLite, writers are serialised anyway. Failed writes store nothing: they changed nothing, so
running them again is safe and gives the answer that holds now.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select

from loyalty.errors import IdempotencyKeyReused
from loyalty.models import IdempotencyRecord
from loyalty.services.context import Context
from loyalty.services.sql import insert_ignoring_conflict


@dataclass(frozen=True)
class StoredAnswer:
    status_code: int
    body: str


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


async def claim(ctx: Context, scope: str, key: str, request_fingerprint: str) -> StoredAnswer | None:
    """None when this request is the first with this key (go ahead); else the answer to replay."""
    now = ctx.clock.now()
    await _forget_expired(ctx, scope, key, now - timedelta(hours=ctx.settings.idempotency_ttl_hours))
    inserted = await ctx.session.execute(
        insert_ignoring_conflict(
            ctx.session,
            IdempotencyRecord.__table__,  # type: ignore[arg-type]
            {
                "vendor_id": ctx.actor.vendor_id if ctx.actor else None,
                "scope": scope,
                "key": key,
                "request_fingerprint": request_fingerprint,
                "created_at": now,
            },
        )
    )
    if inserted.rowcount == 1:  # type: ignore[attr-defined]
        return None
    record = await ctx.session.scalar(
        select(IdempotencyRecord).where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)
    )
    if record is None or record.request_fingerprint != request_fingerprint or record.status_code is None:
        raise IdempotencyKeyReused()
    return StoredAnswer(status_code=record.status_code, body=record.response_body or "")


async def remember(ctx: Context, scope: str, key: str, answer: StoredAnswer) -> None:
    record = await ctx.session.scalar(
        select(IdempotencyRecord).where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)
    )
    if record is not None:
        record.status_code, record.response_body = answer.status_code, answer.body
        await ctx.session.flush()


async def _forget_expired(ctx: Context, scope: str, key: str, cutoff: object) -> None:
    await ctx.session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.scope == scope,
            IdempotencyRecord.key == key,
            IdempotencyRecord.created_at < cutoff,
        )
    )


async def purge_expired(ctx: Context) -> int:
    cutoff = ctx.clock.now() - timedelta(hours=ctx.settings.idempotency_ttl_hours)
    result = await ctx.session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff))
    return result.rowcount  # type: ignore[attr-defined]
