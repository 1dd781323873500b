"""Idempotency-Key: the first successful answer to a write is stored and replayed on repeats.

`claim` inserts the key inside the request's own transaction. On PostgreSQL a concurrent repeat's
INSERT waits on the unique index until the first transaction ends: if it committed, the repeat finds
the stored answer and replays it; if it rolled back (the write failed), the repeat runs afresh.
On SQLite, writers are serialised anyway. Failed writes store nothing: they changed nothing, so
running them again is safe and gives the answer that holds now.

A record holds what a replay needs and no more: the status and the answer's bytes, compressed past
`COMPRESS_FROM_BYTES` (a programme's answer, with its catalogue, shrinks about tenfold). An answer
still larger than `LOYALTY_IDEMPOTENCY_MAX_ANSWER_BYTES` once compressed is not kept, and its key is
released: only a programme's own writes can answer that much, and repeating those is harmless
(activating twice leaves it active; a second create is a 409 that says it exists).
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select

from loyalty.errors import IdempotencyKeyReused
from loyalty.models import IdempotencyRecord
from loyalty.services.context import Context
from loyalty.services.upserts import insert_ignoring_conflict


@dataclass(frozen=True)
class StoredAnswer:
    status_code: int
    body: str


def fingerprint(method: str, path: str, body: bytes) -> str:
    """SHA-256 (64 hex digits) of the request's method, path and body: a key sent again with another
    request is IdempotencyKeyReused (docs/rules.md, "Idempotency")."""
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


async def claim(ctx: Context, scope: str, key: str, request_fingerprint: str) -> StoredAnswer | None:
    """Takes the Idempotency-Key `key` in `scope` (`vendor:<id>` or `program:<id>`) for this request, in
    its transaction: None when it is the first with this key (go ahead), else the stored answer to replay.
    A key older than LOYALTY_IDEMPOTENCY_TTL_HOURS counts as new. A concurrent repeat waits on the unique
    index until the first request's transaction ends. Raises IdempotencyKeyReused (409) when the key came
    with another request (another fingerprint) or its first request is still running. Rules:
    docs/rules.md, "Idempotency"."""
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
    return StoredAnswer(status_code=record.status_code, body=_replayed_body(record.response_body or ""))


async def remember(ctx: Context, scope: str, key: str, answer: StoredAnswer) -> None:
    """Stores the answer to replay for the key `claim` took, in the request's transaction (compressed
    past COMPRESS_FROM_BYTES; over LOYALTY_IDEMPOTENCY_MAX_ANSWER_BYTES the key is released instead).
    Does nothing when the key was not claimed. Raises nothing."""
    record = await ctx.session.scalar(
        select(IdempotencyRecord).where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)
    )
    if record is None:
        return
    stored = _stored_body(answer.body)
    if len(stored) > ctx.settings.idempotency_max_answer_bytes:
        await ctx.session.delete(record)
    else:
        record.status_code, record.response_body = answer.status_code, stored
    await ctx.session.flush()


# A stored body starting with this is zlib-compressed and base64-encoded; an answer's JSON never starts
# so (it starts with `{`), and records written before compression existed are read as they are.
COMPRESSED_MARK = "zlib:"
COMPRESS_FROM_BYTES = 1024


def _stored_body(body: str) -> str:
    if len(body) < COMPRESS_FROM_BYTES:
        return body
    return COMPRESSED_MARK + base64.b64encode(zlib.compress(body.encode())).decode()


def _replayed_body(stored: str) -> str:
    if stored.startswith(COMPRESSED_MARK):
        return zlib.decompress(base64.b64decode(stored[len(COMPRESSED_MARK) :])).decode()
    return stored


async def forget_answers_about(ctx: Context, program_ids: list[int], identifiers: list[str]) -> int:
    """Deletes the stored answers of the calling vendor's and its programmes' scopes that contain any of
    `identifiers` (a person's e-mail, card numbers: specific strings, so that no other request's answer
    is forgotten, since a forgotten answer lets a retried write run again). Returns how many. Raises
    nothing."""
    scopes = [f"vendor:{ctx.vendor_id}", *(f"program:{program_id}" for program_id in program_ids)]
    stored = await ctx.session.execute(
        select(IdempotencyRecord.id, IdempotencyRecord.response_body).where(
            IdempotencyRecord.scope.in_(scopes), IdempotencyRecord.response_body.is_not(None)
        )
    )
    about = [
        record_id
        for record_id, body in stored
        if any(identifier in _replayed_body(body or "") for identifier in identifiers)
    ]
    if about:
        await ctx.session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id.in_(about)))
    return len(about)


async def _forget_expired(ctx: Context, scope: str, key: str, cutoff: object) -> None:
    await ctx.session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.scope == scope,
            IdempotencyRecord.key == key,
            IdempotencyRecord.created_at < cutoff,
        )
    )


async def purge_expired(ctx: Context) -> int:
    """Deletes the stored answers older than LOYALTY_IDEMPOTENCY_TTL_HOURS; returns how many. Raises
    nothing."""
    cutoff = ctx.clock.now() - timedelta(hours=ctx.settings.idempotency_ttl_hours)
    result = await ctx.session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff))
    return int(result.rowcount)  # type: ignore[attr-defined]
