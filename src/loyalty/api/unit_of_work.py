"""The request's unit of work, around the whole route handler.

Every API route runs inside one unit of work (`db.Database.unit`): FastAPI's handler (the
dependencies, the endpoint and the answer's serialisation) runs inside it, so the unit commits, or
rolls back, before the response is sent: a client never sees 201 for a write that failed to commit.

The order of a request, so that a slow or hostile client costs a socket, never a database connection:
1. the body is read in full, within `LOYALTY_BODY_TIMEOUT_SECONDS` (408) and `LOYALTY_MAX_BODY_BYTES`
   (413, `api/limits.py`), before any connection is taken; a body that is not JSON is refused (415);
2. the unit checks a connection out (a bounded wait, 503) and the caller is identified on it, outside
   any transaction (`api/deps.py`, `Unit.read`);
3. the transaction begins when the route's context asks for the session (`begin_session`); work that
   must count even if the request then fails runs before that (`Unit.apart`);
4. the unit commits and gives the connection back; only then is the answer sent.

A request that carries a staff PIN waits for a turn at the worker's PIN checks (`app.state.pin_checks`,
`LOYALTY_PIN_CHECKS_AT_ONCE`) before step 2: a PIN costs a bcrypt check (~0.1 s of a core), and a burst of
them each holding a pooled connection while they wait for a core starved the pool, so that the burst's
last requests and every other request in the meantime waited past the pool's bound (503).

It is a route class rather than a dependency with `yield`: measured on the stamp path, FastAPI's
machinery for such a dependency (an exit stack, a shielded cancel scope and a context manager built
on every request) cost several times this one `async with`.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.message
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from loyalty.api.errors import RolledBackAnswer, client_error, internal_error
from loyalty.db import Database, Unit
from loyalty.errors import ClientGone, DatabaseUnavailable, LoyaltyError, RequestTimeout, UnsupportedMediaType
from loyalty.services.pins import StaffApproval


class UnitOfWorkRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        takes_body = self.body_field is not None
        takes_pin = takes_body and _approved_by_pin(self.body_field)

        async def in_unit_of_work(request: Request) -> Response:
            body = await _read_body(request)
            if takes_body and body and not is_json(request.headers.get("content-type")):
                raise UnsupportedMediaType(JSON_MEDIA_TYPE)
            database: Database = request.app.state.database
            turn = _pin_turn(request.app.state.pin_checks) if takes_pin and STAFF_PIN in body else _NO_WAIT
            try:
                async with turn, database.unit() as unit:
                    request.state.unit = unit
                    return await handler(request)
            except ANSWERED_BY_HANDLERS:
                raise
            except Exception as exc:
                # Answered here rather than re-raised: Starlette's last-resort handler would log the
                # traceback a second time, through the server, and drop the keep-alive connection.
                if error := client_error(exc):
                    raise error from None
                return internal_error(request, exc)

        return in_unit_of_work


STAFF_PIN = b'"staff_pin"'  # a body that names it (its value may still be null: then the turn is short)
PIN_TURN_SECONDS = 30  # past it, the worker is overloaded with PIN checks: 503 with Retry-After
_NO_WAIT = contextlib.nullcontext()


@contextlib.asynccontextmanager
async def _pin_turn(turns: asyncio.Semaphore) -> AsyncIterator[None]:
    """A turn at the worker's PIN checks, waited for up to PIN_TURN_SECONDS (then DatabaseUnavailable, busy)."""
    try:
        async with asyncio.timeout(PIN_TURN_SECONDS):
            await turns.acquire()
    except TimeoutError:
        raise DatabaseUnavailable(DatabaseUnavailable.BUSY) from None
    try:
        yield
    finally:
        turns.release()


def _approved_by_pin(body_field: Any) -> bool:
    """Whether the route's body is a `StaffApproval` (it may carry a staff PIN)."""
    model = getattr(getattr(body_field, "field_info", None), "annotation", None)
    return isinstance(model, type) and issubclass(model, StaffApproval)


async def _read_body(request: Request) -> bytes:
    """The whole body, read before the unit of work starts (Starlette keeps it for the handler)."""
    timeout = request.app.state.settings.body_timeout_seconds
    try:
        async with asyncio.timeout(timeout):
            return await request.body()
    except TimeoutError:
        raise RequestTimeout(timeout) from None
    except ClientDisconnect:
        raise ClientGone() from None  # nobody reads the answer; the request log keeps one line


JSON_MEDIA_TYPE = "application/json"


def is_json(content_type: str | None) -> bool:
    """Whether FastAPI reads a body of this Content-Type as JSON (`application/json`, `application/*+json`;
    none at all is not, FastAPI's strict default). Any other body would reach the route as bytes and
    be refused as 422 "This must be a JSON object", which names the wrong fault."""
    if not content_type:
        return False
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))


# The exceptions the app's handlers answer (api/errors.py): the domain's, validation, 404 and 405, and
# rolled-back pages.
ANSWERED_BY_HANDLERS = (LoyaltyError, RequestValidationError, HTTPException, RolledBackAnswer)


def request_unit(request: Request) -> Unit:
    """The request's unit of work."""
    unit: Unit | None = getattr(request.state, "unit", None)
    if unit is None:
        raise RuntimeError(f"{request.url.path}: its router must use route_class=UnitOfWorkRoute")
    return unit


async def begin_session(request: Request) -> AsyncSession:
    """The session of the request's unit of work, its transaction begun."""
    return await request_unit(request).begin()
