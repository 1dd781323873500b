"""The error codes each route answers, in /openapi.json: declared once, next to the route.

A route declares the domain errors it answers, built from their classes
(`responses=error_responses(StampCooldown, DailyStampLimit, ...)`); `routes.py` adds, by
`common_errors`, those any route of its kind answers: 401, 403 and the wrong-key 429 for a keyed
route, 422 for one that takes parameters or a body, 400/408/413/415 for one that reads a body, and
431, 500 and 503 for every route. Each status is one response: the error envelope with its
`error_code` restricted to that status's codes (a client reads them there, and the schemathesis run of
`tests/api/test_openapi.py` fails on an answered code that is not listed), described code by code
with its English message.

No route of the document answers `NOT_OF_A_ROUTE`: a path no route serves, a method its path does not serve
(both answered for paths outside the document), a client gone before its answer was sent, and what only the
browser's routes answer (`web/`: sign-in, invitations, pairing, the terminal's session and CSRF checks), which
are pages or the terminal's own JSON routes and stay out of /openapi.json.
`tests/api/test_error_codes.py` checks every other code is documented on some route, and that each
route documents every error its code can raise.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.utils import get_flat_params
from fastapi.routing import APIRoute, APIRouter

from loyalty.api.schemas.common import ErrorOut
from loyalty.errors import (
    CardInactive,
    CardNotFound,
    ClientGone,
    CsrfTokenInvalid,
    ErrorCode,
    Forbidden,
    HeadersTooLarge,
    IdempotencyKeyReused,
    InternalError,
    InvalidStaffPin,
    LastOwner,
    LinkInvalid,
    LoyaltyError,
    MalformedBody,
    MethodNotAllowed,
    PairingCodeInvalid,
    PasswordTooWeak,
    PayloadTooLarge,
    ProgramInactive,
    ProgramNotFound,
    RateLimited,
    RequestTimeout,
    RouteNotFound,
    ServiceUnavailable,
    SignInFailed,
    StaffPinLocked,
    StaffPinRequired,
    TerminalNotPaired,
    TooManyRequests,
    Unauthenticated,
    UnsupportedMediaType,
    UserNotFound,
    ValidationFailed,
)
from loyalty.i18n import Message

Responses = dict[int | str, dict[str, Any]]

NOT_OF_A_ROUTE: tuple[type[LoyaltyError], ...] = (
    RouteNotFound,
    MethodNotAllowed,
    ClientGone,
    # the browser's (web/)
    CsrfTokenInvalid,
    LastOwner,
    UserNotFound,
    LinkInvalid,
    PairingCodeInvalid,
    PasswordTooWeak,
    SignInFailed,
    TerminalNotPaired,
)

# An operation on a card at the counter (stamp, stamp reward, earn, spend): the vendor's programme and
# the card exist and are active, the staff PIN is given and right (and not locked), the
# Idempotency-Key is not reused with another body.
COUNTER_ERRORS: tuple[type[LoyaltyError], ...] = (
    ProgramNotFound,
    ProgramInactive,
    CardNotFound,
    CardInactive,
    StaffPinRequired,
    InvalidStaffPin,
    StaffPinLocked,
    IdempotencyKeyReused,
)

ENVELOPE_REF = "#/components/schemas/ErrorOut"
MEDIA_TYPE = "application/json"
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before trying again", "schema": {"type": "integer"}}}


@cache  # every class is defined at import; each app, and each test's, documents its routes with it
def error_classes() -> Mapping[ErrorCode, type[LoyaltyError]]:
    """Each code → the one class that defines it (a subclass keeping its parent's code is not listed)."""
    found: dict[ErrorCode, type[LoyaltyError]] = {}
    pending = [LoyaltyError]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if code := vars(cls).get("error_code"):
            found[code] = cls
    return found


def error_responses(*errors: type[LoyaltyError]) -> Responses:
    """OpenAPI `responses=` for these errors: one response per status, listing its codes."""
    by_status: dict[int, set[ErrorCode]] = {}
    for error in errors:
        by_status.setdefault(error.status_code, set()).add(error.error_code)
    return {status: _response(frozenset(codes)) for status, codes in sorted(by_status.items())}


def documented_codes(response: dict[str, Any]) -> set[ErrorCode]:
    """The codes a response built here lists; none for any other response (a route's 200, say)."""
    try:
        listed = response["content"][MEDIA_TYPE]["schema"]["allOf"][1]["properties"]["error_code"]["enum"]
    except (KeyError, IndexError, TypeError):
        return set()
    return {ErrorCode(code) for code in listed}


def with_errors(responses: Responses, *errors: type[LoyaltyError]) -> Responses:
    """`responses` with these errors added: the codes of one status merged into its one response."""
    merged = dict(responses)
    for status, response in error_responses(*errors).items():
        key = next((key for key in merged if str(key) == str(status)), status)
        declared = documented_codes(merged[key]) if key in merged else set()
        if key in merged and not declared:
            raise ValueError(f"response {status} is not a list of error codes: declare it with error_responses")
        merged[key] = _response(frozenset(documented_codes(response) | declared))
    return dict(sorted(merged.items(), key=lambda item: str(item[0])))


def common_errors(route: APIRoute, *, keyed: bool) -> tuple[type[LoyaltyError], ...]:
    """The errors any route of this kind answers, whatever it does (see the module's docstring)."""
    errors: list[type[LoyaltyError]] = [HeadersTooLarge, InternalError, ServiceUnavailable]
    if keyed:  # api/deps.py: no key or a refused one, a key of the wrong kind, too many wrong keys
        errors += [Unauthenticated, Forbidden, RateLimited]
    if route.body_field is not None:  # api/limits.py, api/unit_of_work.py, FastAPI's parsing
        errors += [PayloadTooLarge, RequestTimeout, UnsupportedMediaType, MalformedBody]
    if route.body_field is not None or get_flat_params(route.dependant):
        errors.append(ValidationFailed)
    return tuple(errors)


def document_common_errors(router: APIRouter, *, keyed: bool) -> None:
    """Adds `common_errors` to each route's declared ones (again and again: the same result)."""
    for route in router.routes:
        if isinstance(route, APIRoute):
            route.responses = with_errors(route.responses, *common_errors(route, keyed=keyed))


def install_error_schemas(app: FastAPI) -> None:
    """/openapi.json's components gain the envelope (`ErrorOut`) and the full `ErrorCode` enum, which
    every error response refers to."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()  # FastAPI's, which it keeps as app.openapi_schema
        schema = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(schema.pop("$defs", {}))
        schemas["ErrorOut"] = schema
        return document

    app.openapi = openapi  # type: ignore[method-assign]


@cache  # shared by the routes that answer the same codes: FastAPI copies it into each operation
def _response(codes: frozenset[ErrorCode]) -> dict[str, Any]:
    classes = error_classes()
    ordered = [code for code in ErrorCode if code in codes]  # the enum's order, stable in the document
    errors = [classes[code] for code in ordered]
    response: dict[str, Any] = {
        "description": "; ".join(f"`{code}`: {_english(classes[code].message)}" for code in ordered),
        "content": {
            MEDIA_TYPE: {
                "schema": {
                    "allOf": [
                        {"$ref": ENVELOPE_REF},
                        {"type": "object", "properties": {"error_code": {"enum": [str(code) for code in ordered]}}},
                    ]
                }
            }
        },
    }
    if any(issubclass(error, TooManyRequests | ServiceUnavailable) for error in errors):
        response["headers"] = RETRY_AFTER
    return response


def _english(message: Message) -> str:
    return message if isinstance(message, str) else message.plural
