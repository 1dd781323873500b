"""Request limits, enforced before anything is parsed and before a database connection is taken.

Headers: at most `LOYALTY_MAX_HEADERS` lines and `LOYALTY_MAX_HEADER_BYTES` of names and values
(431). Body: a `Content-Length` over `LOYALTY_MAX_BODY_BYTES` is refused before a byte of it is read,
and a body that streams past the limit is cut off as it arrives (413). The time a client has to send
the body is bounded where the body is read, in the unit-of-work route (`api/unit_of_work.py`, 408).
The one upload, the dashboard's logo, has its own larger limit (`LARGER_BODIES`): a picture over the
logo's 2 MB then gets a page that says so (`services/logos.py`), not this module's 413.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loyalty.api.errors import envelope
from loyalty.config import Settings
from loyalty.errors import HeadersTooLarge, LoyaltyError, PayloadTooLarge
from loyalty.services.logos import UPLOAD_BODY_BYTES

LARGER_BODIES = {"/vendor/program/logo": UPLOAD_BODY_BYTES}  # path → its body limit, past the setting's


class RequestLimitsMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.max_body_bytes = settings.max_body_bytes
        self.max_header_bytes = settings.max_header_bytes
        self.max_headers = settings.max_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        if len(headers) > self.max_headers or sum(len(n) + len(v) for n, v in headers) > self.max_header_bytes:
            await _refuse(HeadersTooLarge(self.max_header_bytes, self.max_headers), scope, receive, send)
            return
        limit = max(self.max_body_bytes, LARGER_BODIES.get(scope["path"], 0))
        declared = _content_length(headers)
        if declared is not None and declared > limit:
            await _refuse(PayloadTooLarge(limit), scope, receive, send)
            return
        await self.app(scope, self._bounded(receive, limit), send)

    def _bounded(self, receive: Receive, limit: int) -> Receive:
        """`receive`, raising PayloadTooLarge once the body passes the limit (a chunked body declares
        no length, and a client may send more than it declared)."""
        received = 0

        async def bounded_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(limit)
            return message

        return bounded_receive


def _content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            return int(value) if value.isdigit() else None  # the HTTP server refuses a malformed one
    return None


async def _refuse(error: LoyaltyError, scope: Scope, receive: Receive, send: Send) -> None:
    await envelope(error, Request(scope, receive))(scope, receive, send)
