"""Idempotency-Key for the writes of API.md: replay the first answer byte for byte, or 409.

A route builds its answer inside `respond`; with a key, the answer is stored in the same transaction
as the write it describes, so "the write happened" and "its answer is stored" commit together.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Header, Request, Response
from pydantic import BaseModel

from loyalty.services import idempotency
from loyalty.services.context import Context

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Repeat a write safely: the same key and body replay the first answer.",
    ),
]
REPLAY_HEADER = "Idempotent-Replayed"


async def respond(
    request: Request,
    ctx: Context,
    *,
    key: str | None,
    status_code: int,
    produce: Callable[[], Awaitable[BaseModel]],
    scope: str | None = None,
) -> Response:
    """`scope` defaults to the calling vendor: a vendor's keys never meet another vendor's."""
    if key is None:
        return _json(status_code, (await produce()).model_dump_json())
    scope = scope or f"vendor:{ctx.vendor_id}"
    request_fingerprint = idempotency.fingerprint(request.method, request.url.path, _canonical(await request.body()))
    stored = await idempotency.claim(ctx, scope, key, request_fingerprint)
    if stored is not None:
        response = _json(stored.status_code, stored.body)
        response.headers[REPLAY_HEADER] = "true"
        return response
    body = (await produce()).model_dump_json()
    await idempotency.remember(ctx, scope, key, idempotency.StoredAnswer(status_code, body))
    return _json(status_code, body)


def _canonical(body: bytes) -> bytes:
    """The same JSON written with other spacing or key order is the same request."""
    try:
        return json.dumps(json.loads(body or b"null"), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, RecursionError):  # not JSON, or nested too deep to re-encode: the bytes as sent
        return body


def _json(status_code: int, body: str) -> Response:
    return Response(content=body, status_code=status_code, media_type="application/json")
