"""One structured log line per request, and a request id on every answer.

A plain ASGI middleware (no BaseHTTPMiddleware): it adds no task or body copy to the hot path.
It logs the path, never the query string or headers, so no PIN, key or token reaches the log.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("loyalty.requests")


class RequestLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            log.info(
                json.dumps(
                    {
                        "event": "request",
                        "method": scope["method"],
                        "path": loggable_path(scope),
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                        "vendor_id": state.get("vendor_id"),
                        "request_id": request_id,
                    }
                )
            )


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text: str = value.decode("latin-1")
            if 0 < len(text) <= 64 and text.replace("-", "").isalnum():
                return text
    return None


def loggable_path(scope: Scope) -> str:
    """The path with its parameters masked (`/cards/{card_token}`), so public tokens stay out of logs.
    On a path no route matched, every segment that looks like a token or a card number is masked."""
    by_value = {str(value): name for name, value in (scope.get("path_params") or {}).items()}
    segments = str(scope.get("path", "")).split("/")
    return "/".join(f"{{{by_value[s]}}}" if s in by_value else _masked(s) for s in segments)


# A segment of URL-safe characters that is 20 or longer, or 12 or longer with a digit in it: card tokens
# and QR payloads (32 random characters, which hold no digit about once in 230 draws), keys and card numbers
# (`docs/operations.md`, "Security"), but not words such as `transactions` or `registrations`.
_TOKEN_LIKE = re.compile(r"[A-Za-z0-9_\-]{20,}|(?=.*\d)[A-Za-z0-9_\-]{12,}")


def _masked(segment: str) -> str:
    return "{redacted}" if _TOKEN_LIKE.fullmatch(segment) else segment
