"""One error envelope for every failure: `{"error_code", "message", "details"}`.

Domain errors render themselves (code, status, details, localised message, Retry-After); FastAPI's
validation errors, Starlette's and FastAPI's own refusals (an unknown route, a wrong method, a body
they cannot parse) and unexpected exceptions are mapped onto the same shape here, each with a code of
its own (`ErrorCode`). Routes never build error bodies.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import asyncpg
import pydantic
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from loyalty.api.middleware import loggable_path
from loyalty.errors import (
    DatabaseUnavailable,
    InternalError,
    LoyaltyError,
    MalformedBody,
    MethodNotAllowed,
    RouteNotFound,
    Unauthenticated,
    ValidationFailed,
)
from loyalty.i18n import N_, NP_, Message, negotiate, translate
from loyalty.services.bodies import RequestBody
from loyalty.services.card_numbers import CHECK_DIGIT_ERROR
from loyalty.services.pins import PIN_PATTERN
from loyalty.services.programs import COLOR_PATTERN
from loyalty.services.vendors import SLUG_PATTERN

log = logging.getLogger("loyalty.errors")

# PostgreSQL refuses text holding a NUL character (SQLSTATE 22021, character_not_in_repertoire),
# which JSON can carry as "\u0000" and a URL as "%00". The statement fails before anything is
# written and the unit of work rolls back, so it is the client's invalid input, not our failure.
NUL_IN_TEXT_SQLSTATE = "22021"
NUL_IN_TEXT_ERROR = {"field": "body", "message": N_("Text must not contain the NUL character (\\u0000)")}
DATA_EXCEPTION_CLASS = "22"
OUT_OF_RANGE_ERROR = {"field": "body", "message": N_("A value is out of the range this service can store")}

# --- field errors --------------------------------------------------------------------------------
# FastAPI's validation errors are pydantic's, in English. Each is rendered here from its `type` and
# its context values (`ctx`), through the catalogues, so that every message follows Accept-Language;
# a type not listed keeps pydantic's English text. A placeholder holding a count is a plural entry.

TEXT = N_("This must be text")
WHOLE_NUMBER = N_("This must be a whole number")
NUMBER = N_("This must be a number")
TRUE_OR_FALSE = N_("This must be true or false")
ONE_OF = N_("This must be one of: {expected}")
JSON_OBJECT = N_("This must be a JSON object")
DATE_TIME = N_("This must be a date and time such as 2026-01-31T09:30:00Z")
DATE = N_("This must be a date such as 2026-01-31")
INVALID_JSON = N_("The body is not valid JSON: see line {line}, column {column}")

FIELD_MESSAGES: dict[str, Message] = {
    "missing": N_("This field is required"),
    "extra_forbidden": N_("This field is not accepted here: check its spelling"),
    "string_type": TEXT,
    "string_too_short": NP_(
        "This must be at least {min_length} character long",
        "This must be at least {min_length} characters long",
        count="min_length",
    ),
    "string_too_long": NP_(
        "This must be at most {max_length} character long",
        "This must be at most {max_length} characters long",
        count="max_length",
    ),
    "too_short": NP_(
        "This must have at least {min_length} item", "This must have at least {min_length} items", count="min_length"
    ),
    "too_long": NP_(
        "This must have at most {max_length} item", "This must have at most {max_length} items", count="max_length"
    ),
    "int_type": WHOLE_NUMBER,
    "int_parsing": WHOLE_NUMBER,
    "int_from_float": WHOLE_NUMBER,
    "int_parsing_size": N_("This number is too large"),
    "float_type": NUMBER,
    "float_parsing": NUMBER,
    "decimal_type": NUMBER,
    "decimal_parsing": NUMBER,
    "finite_number": N_("This must be a finite number"),
    "decimal_max_places": NP_(
        "This must have at most {decimal_places} decimal place",
        "This must have at most {decimal_places} decimal places",
        count="decimal_places",
    ),
    "decimal_max_digits": NP_(
        "This must have at most {max_digits} digit", "This must have at most {max_digits} digits", count="max_digits"
    ),
    "decimal_whole_digits": NP_(
        "This must have at most {whole_digits} digit before the decimal point",
        "This must have at most {whole_digits} digits before the decimal point",
        count="whole_digits",
    ),
    "greater_than_equal": N_("This must be {minimum} or more"),
    "greater_than": N_("This must be more than {minimum}"),
    "less_than_equal": N_("This must be {maximum} or less"),
    "less_than": N_("This must be less than {maximum}"),
    "bool_type": TRUE_OR_FALSE,
    "bool_parsing": TRUE_OR_FALSE,
    "literal_error": ONE_OF,
    "enum": ONE_OF,
    "dict_type": JSON_OBJECT,
    "model_type": JSON_OBJECT,
    "model_attributes_type": JSON_OBJECT,
    "list_type": N_("This must be a list"),
    "datetime_type": DATE_TIME,
    "datetime_parsing": DATE_TIME,
    "datetime_from_date_parsing": DATE_TIME,
    "date_type": DATE,
    "date_parsing": DATE,
    "date_from_datetime_parsing": DATE,
    "json_invalid": INVALID_JSON,
    "string_pattern_mismatch": N_("This does not have the expected format"),
    CHECK_DIGIT_ERROR: N_("The card number's check digit does not match: a typo?"),
}

# What a pattern expects, said in words (the regex itself helps nobody at a counter).
PATTERN_MESSAGES: dict[str, Message] = {
    PIN_PATTERN: N_("This must be 4 to 8 digits"),
    SLUG_PATTERN: N_("This must be lowercase letters and digits, in words joined by hyphens (such as kaffi-klatsch)"),
    COLOR_PATTERN: N_("This must be a colour written #RRGGBB, such as #1A2B3C"),
}

# The context values a message shows, by the placeholder's name (pydantic's `ge` is our `{minimum}`).
CONTEXT_PLACEHOLDERS = {"ge": "minimum", "gt": "minimum", "le": "maximum", "lt": "maximum"}

# Our validators' ValueErrors (pydantic's `value_error`): their English text → the message.
VALUE_ERRORS: tuple[tuple[re.Pattern[str], Message], ...] = (
    (re.compile(r"give exactly one of (?P<expected>.+)"), N_("Give exactly one of: {expected}")),
    (re.compile(r"must be one of (?P<expected>.+)"), ONE_OF),
    (re.compile(r"must be an IANA timezone .*"), N_("This must be an IANA time zone such as Europe/Luxembourg")),
    (re.compile(r"(?P<fields>.+) cannot be null"), N_("These settings cannot be null: {fields}")),
    (re.compile(r"points_rewards ids must be unique"), N_("Each reward id may appear only once")),
    (re.compile(r"the instant is out of range"), N_("This date and time is out of range")),
)
INVALID_EMAIL = N_("This is not a valid e-mail address")
_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'")


def field_name(location: Iterable[Any]) -> str:
    location = tuple(location)
    parts = [str(part) for part in location if part not in ("body", "query", "path", "header")]
    return ".".join(parts) or str(location[0] if location else "body")


def field_message(error: Mapping[str, Any], locale: str, body: Any = None) -> str:
    """One pydantic error's message in `locale`: ours for its type, else pydantic's English text."""
    kind, context = str(error.get("type", "")), dict(error.get("ctx") or {})
    english = str(error.get("msg", "invalid"))
    if kind == "json_invalid":
        line, column = _line_and_column(body, _position(error))
        return translate(INVALID_JSON, locale, line=line, column=column)
    if kind == "value_error":
        return _value_error(context, locale, english)
    if kind == "string_pattern_mismatch" and context.get("pattern") in PATTERN_MESSAGES:
        expected = PATTERN_MESSAGES[context["pattern"]]
        return translate(expected, locale)
    message = FIELD_MESSAGES.get(kind)
    if message is None:
        return english
    params: dict[str, Any] = {CONTEXT_PLACEHOLDERS.get(str(name), str(name)): value for name, value in context.items()}
    if kind in ("literal_error", "enum"):
        params["expected"] = _choices(str(context.get("expected", "")))
    try:
        return translate(message, locale, **params)
    except (KeyError, ValueError, TypeError):  # a context pydantic changed: English, never a 500
        return english


def _value_error(context: Mapping[str, Any], locale: str, english: str) -> str:
    if "reason" in context:  # EmailStr: pydantic's "value is not a valid email address: …"
        return translate(INVALID_EMAIL, locale)
    text = str(context.get("error", ""))
    for pattern, message in VALUE_ERRORS:
        if match := pattern.fullmatch(text):
            params = {name: _choices(value) for name, value in match.groupdict().items()}
            return translate(message, locale, **params)
    return english


def _choices(expected: str) -> str:
    """`'stamps', 'points' or 'hybrid'` (pydantic's English) → `stamps, points, hybrid`."""
    quoted = _QUOTED.findall(expected)
    return ", ".join(quoted) if quoted else expected


def _position(error: Mapping[str, Any]) -> int:
    location = tuple(error.get("loc", ()))
    return next((part for part in reversed(location) if isinstance(part, int)), 0)


def _line_and_column(body: Any, position: int) -> tuple[int, int]:
    """Line and column (from 1) of a character offset in the JSON document FastAPI could not parse."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes | bytearray) else str(body or "")
    before = text[:position]
    return before.count("\n") + 1, position - (before.rfind("\n") + 1) + 1


class FieldErrors(ValidationFailed):
    """422 VALIDATION_ERROR from pydantic's errors, each message rendered in the request's language."""

    def __init__(self, errors: Sequence[Mapping[str, Any]], body: Any = None) -> None:
        self.field_errors = [dict(error) for error in errors]
        self.body = body
        super().__init__(self.localised_errors("en"))

    def localised_errors(self, locale: str) -> list[dict[str, str]]:
        return [
            {"field": _error_field(error), "message": field_message(error, locale, self.body)}
            for error in self.field_errors
        ]


def _error_field(error: Mapping[str, Any]) -> str:
    # A JSON syntax error's location is a character offset: the field is the body (the message says where).
    return "body" if error.get("type") == "json_invalid" else field_name(error.get("loc", ()))


def request_locale(request: Request) -> str:
    """Accept-Language, else the vendor's default language (once the caller is known), else English."""
    fallback = getattr(request.state, "vendor_locale", None)
    return negotiate(request.headers.get("accept-language"), fallback)


def envelope_body(error: LoyaltyError, request: Request) -> dict[str, Any]:
    """`{"error_code", "message", "details"}`, the messages (field errors' too) in the request's language."""
    locale = request_locale(request)
    details = error.details
    if isinstance(error, FieldErrors):
        details = {**details, "errors": error.localised_errors(locale)}
    elif isinstance(error, ValidationFailed):  # errors whose messages are msgids (N_)
        details = {**details, "errors": [_translated(item, locale) for item in details.get("errors", [])]}
    return {"error_code": error.error_code, "message": error.localised_message(locale), "details": details}


def _translated(item: Any, locale: str) -> Any:
    if isinstance(item, dict) and isinstance(item.get("message"), str):
        message: str = item["message"]
        return {**item, "message": translate(message, locale)}
    return item


# RFC 6750: the scheme a 401 asks for; `error="invalid_token"` when a bearer key was sent and refused.
REALM = "loyalty"


def www_authenticate(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return f'Bearer realm="{REALM}", error="invalid_token", error_description="The API key is not valid"'
    return f'Bearer realm="{REALM}"'


def envelope(error: LoyaltyError, request: Request, headers: Mapping[str, str] | None = None) -> JSONResponse:
    headers = dict(headers or {})
    if error.retry_after_seconds is not None:
        headers["Retry-After"] = str(error.retry_after_seconds)
    if error.closes_connection:
        headers["Connection"] = "close"  # what is left of the request is never read
    if error.status_code == 401:
        headers["WWW-Authenticate"] = www_authenticate(request)
    return JSONResponse(envelope_body(error, request), status_code=error.status_code, headers=headers)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LoyaltyError)
    if isinstance(exc, DatabaseUnavailable):
        # One line, no traceback: an operator needs to know it happens and why, not where.
        log.warning("database %s on %s %s: answered 503", exc.reason, request.method, loggable_path(request.scope))
    return envelope(exc, request)


class RolledBackAnswer(Exception):
    """A response already made whose transaction must still roll back: a page that shows a refused
    counter operation (a wrong PIN) must undo it and let its `after_rollback` work run (the failure
    counted), as the API's error answer does. api/errors.py answers it with `response`."""

    def __init__(self, response: Response) -> None:
        super().__init__("an answer whose transaction rolls back")
        self.response = response


async def _rolled_back_answer(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RolledBackAnswer)
    return exc.response


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return envelope(FieldErrors(exc.errors(), exc.body), request)


# The methods a 405's `Allow` header may list, probed on the request's path.
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> str:
    """The methods the app's routes answer on the request's path, for the `Allow` header RFC 9110
    requires on a 405. Each method is probed through the routes' own matching (FastAPI nests included
    routers, and Starlette's 405 names only the first matching route's methods)."""
    routes = request.app.router.routes
    return ", ".join(
        method
        for method in HTTP_METHODS
        if any(route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes)
    )


# Starlette's and FastAPI's own refusals (HTTPException), by status, each with a code of its own:
# every status they raise (`tests/api/test_error_codes.py` reads their source) is here.
FRAMEWORK_ERRORS: dict[int, Callable[[Request], LoyaltyError]] = {
    400: lambda request: MalformedBody(),  # FastAPI: "There was an error parsing the body"
    401: lambda request: Unauthenticated(),  # StaticFiles, a file it may not read; FastAPI's security classes
    404: lambda request: RouteNotFound(request.url.path),
    405: lambda request: MethodNotAllowed(),
}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    error = FRAMEWORK_ERRORS.get(exc.status_code)
    if error is None:  # a status a framework upgrade brought: loud in the log, never a code-less answer
        return internal_error(request, exc)
    headers = {"Allow": allowed_methods(request)} if exc.status_code == 405 else None
    return envelope(error(request), request, headers)


def _is_database_error(exc: BaseException) -> bool:
    return isinstance(exc, SQLAlchemyError | asyncpg.PostgresError | asyncpg.InterfaceError)


def _sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error, raised by asyncpg directly or wrapped by SQLAlchemy."""
    for error in (exc, getattr(exc, "orig", None)):
        sqlstate = getattr(error, "sqlstate", None)
        if isinstance(sqlstate, str):
            return sqlstate
    return None


def _request_models() -> set[str]:
    names: set[str] = set()
    pending: list[type[RequestBody]] = [RequestBody]
    while pending:
        model = pending.pop()
        names.add(model.__name__)
        pending.extend(model.__subclasses__())
    return names


def client_error(exc: Exception) -> ValidationFailed | None:
    """The request's own fault, or None: a request model's validation failing inside a route, or a
    database error caused by a value the database cannot store
    (SQLSTATE class 22, data exception: a NUL character in text, a number or date out of range) is
    refused before anything is written, and the unit of work rolls back. Inputs are bounded where
    they are parsed; this is the net under those bounds, and it logs one line so a gap is seen."""
    if isinstance(exc, pydantic.ValidationError) and exc.title in _request_models():
        return FieldErrors(exc.errors())  # a request model a route built from the query (a card look-up)
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
    error = InternalError(request_id)
    headers = {"X-Request-ID": request_id or ""} if add_request_id else None
    return JSONResponse(envelope_body(error, request), status_code=error.status_code, headers=headers)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """Outside a route's unit of work (which answers its own failures, `api/unit_of_work.py`): sent by
    Starlette's outermost error middleware, past our request-id middleware, which re-raises after it."""
    if error := client_error(exc):
        return envelope(error, request)
    return internal_error(request, exc, add_request_id=True)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(LoyaltyError, _domain_error)
    app.add_exception_handler(RolledBackAnswer, _rolled_back_answer)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
