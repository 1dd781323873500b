"""One error envelope for every failure: `{"error_code", "message", "details"}`.

Domain errors render themselves (code, status, details, localised message, Retry-After); FastAPI's
validation errors, unknown routes, wrong methods and unexpected exceptions are mapped onto the same
shape here. Routes never build error bodies.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from loyalty.api.middleware import loggable_path
from loyalty.errors import DatabaseUnavailable, LoyaltyError, MethodNotAllowed, NotFound, ValidationFailed
from loyalty.i18n import N_, negotiate, translate

log = logging.getLogger("loyalty.errors")

INTERNAL_ERROR_MESSAGE = N_("Something went wrong on our side; please try again")

# PostgreSQL refuses text holding a NUL character (SQLSTATE 22021, character_not_in_repertoire),
# which JSON can carry as "\u0000" and a URL as "%00". The statement fails before anything is
# written and the unit of work rolls back, so it is the client's invalid input, not our failure.
NUL_IN_TEXT_SQLSTATE = "22021"
NUL_IN_TEXT_ERROR = {"field": "body", "message": "Text must not contain the NUL character (\\u0000)"}
DATA_EXCEPTION_CLASS = "22"
OUT_OF_RANGE_ERROR = {"field": "body", "message": "A value is out of the range this service can store"}


def request_locale(request: Request) -> str:
    """Accept-Language, else the vendor's default language (once the caller is known), else English."""
    fallback = getattr(request.state, "vendor_locale", None)
    return negotiate(request.headers.get("accept-language"), fallback)


def envelope_body(error: LoyaltyError, request: Request) -> dict[str, Any]:
    """`{"error_code", "message", "details"}`, the message in the request's language."""
    return {
        "error_code": error.error_code,
        "message": error.localised_message(request_locale(request)),
        "details": error.details,
    }


def envelope(error: LoyaltyError, request: Request) -> JSONResponse:
    headers = {}
    if error.retry_after_seconds is not None:
        headers["Retry-After"] = str(error.retry_after_seconds)
    if error.closes_connection:
        headers["Connection"] = "close"  # what is left of the request is never read
    return JSONResponse(envelope_body(error, request), status_code=error.status_code, headers=headers)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LoyaltyError)
    if isinstance(exc, DatabaseUnavailable):
        # One line, no traceback: an operator needs to know it happens and why, not where.
        log.warning("database %s on %s %s: answered 503", exc.reason, request.method, loggable_path(request.scope))
    return envelope(exc, request)


def _field(location: tuple[Any, ...]) -> str:
    parts = [str(part) for part in location if part not in ("body", "query", "path", "header")]
    return ".".join(parts) or str(location[0] if location else "body")


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"field": _field(tuple(e.get("loc", ()))), "message": e.get("msg", "invalid")} for e in exc.errors()]
    return envelope(ValidationFailed(errors), request)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 405:
        return envelope(MethodNotAllowed(), request)
    if exc.status_code == 404:
        return envelope(NotFound(request.url.path), request)
    error = LoyaltyError()
    error.status_code = exc.status_code  # type: ignore[misc]
    return envelope(error, request)


def _is_database_error(exc: BaseException) -> bool:
    return isinstance(exc, SQLAlchemyError | asyncpg.PostgresError | asyncpg.InterfaceError)


def _sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error, raised by asyncpg directly or wrapped by SQLAlchemy."""
    for error in (exc, getattr(exc, "orig", None)):
        sqlstate = getattr(error, "sqlstate", None)
        if isinstance(sqlstate, str):
            return sqlstate
    return None


def client_error(exc: Exception) -> ValidationFailed | None:
    """The request's own fault behind a database error, or None: a value the database cannot store
    (SQLSTATE class 22, data exception: a NUL character in text, a number or date out of range) is
    refused before anything is written, and the unit of work rolls back. Inputs are bounded where
    they are parsed; this is the net under those bounds, and it logs one line so a gap is seen."""
    sqlstate = _sqlstate(exc)
    if sqlstate == NUL_IN_TEXT_SQLSTATE:
        return ValidationFailed([NUL_IN_TEXT_ERROR])
    if sqlstate is not None and sqlstate.startswith(DATA_EXCEPTION_CLASS):
        log.warning("the database refused a value (SQLSTATE %s): answered 422", sqlstate)
        return ValidationFailed([OUT_OF_RANGE_ERROR])
    return None


def internal_error(request: Request, exc: Exception, *, add_request_id: bool = False) -> JSONResponse:
    """500 INTERNAL_ERROR with `details.request_id`; the traceback is logged here, once."""
    request_id = getattr(request.state, "request_id", None)
    where = f"{request.method} {loggable_path(request.scope)} (request {request_id})"
    if _is_database_error(exc):
        # A database error's message may quote the values it refused (`Key (key_hash)=(…) already
        # exists`): its kind, its SQLSTATE and where it was raised, never its text.
        stack = "".join(traceback.format_tb(exc.__traceback__))
        log.error(
            "unhandled database error %s (SQLSTATE %s) on %s\n%s", type(exc).__name__, _sqlstate(exc), where, stack
        )
    else:
        log.error("unhandled error on %s", where, exc_info=exc)
    body = {
        "error_code": "INTERNAL_ERROR",
        "message": translate(INTERNAL_ERROR_MESSAGE, request_locale(request)),
        "details": {"request_id": request_id},
    }
    headers = {"X-Request-ID": request_id or ""} if add_request_id else None
    return JSONResponse(body, status_code=500, headers=headers)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """Outside a route's unit of work (which answers its own failures, `api/unit_of_work.py`): sent by
    Starlette's outermost error middleware, past our request-id middleware, which re-raises after it."""
    if error := client_error(exc):
        return envelope(error, request)
    return internal_error(request, exc, add_request_id=True)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(LoyaltyError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
