"""The error codes a client can meet, and where it reads them: each route's responses in /openapi.json
list the codes it answers (`api/error_responses.py`), every code of `ErrorCode` is listed on some route
or answered by none, and what a route lists is what its code can raise (read from the source).
docs/api.md's table of errors is the enum's. Starlette's and FastAPI's own refusals have codes of their
own (`api/errors.py`, FRAMEWORK_ERRORS)."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import fastapi
import httpx
import pytest
import starlette
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

import loyalty
from loyalty.api.error_responses import NOT_OF_A_ROUTE, common_errors, documented_codes, error_classes
from loyalty.api.errors import FRAMEWORK_ERRORS
from loyalty.api.routes import PUBLIC_PREFIX
from loyalty.app import create_app
from loyalty.errors import ErrorCode, LoyaltyError
from tests.fixtures import test_settings
from tests.tenants import Tenant

V = "/api/v1/vendor/loyalty"
A = "/api/v1/admin/loyalty"
P = "/api/v1/loyalty"

Documented = set[tuple[int, ErrorCode]]


@pytest.fixture(scope="module")
def served() -> FastAPI:
    """The app as it is served; its OpenAPI document needs no database."""
    return create_app(test_settings("sqlite+aiosqlite:///never-opened.db"))


def operations(app: FastAPI) -> Iterator[tuple[str, str, APIRoute, dict[str, Any]]]:
    """Each documented operation: method, path, its route and its responses in /openapi.json."""
    paths = app.openapi()["paths"]
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and route.include_in_schema and context.path is not None:
            for method in sorted(context.methods or ()):
                yield method, context.path, route, paths[context.path][method.lower()]["responses"]


def documented(responses: dict[str, Any]) -> Documented:
    return {(int(status), code) for status, response in responses.items() for code in documented_codes(response)}


def answers(*errors: type[LoyaltyError]) -> Documented:
    return {(error.status_code, error.error_code) for error in errors}


# --- what a client reads in /openapi.json --------------------------------------------------------------


def test_a_client_reads_that_a_stamp_may_answer_stamp_cooldown(served: FastAPI) -> None:
    responses = served.openapi()["paths"][f"{V}/stamp"]["post"]["responses"]
    too_many = responses["429"]
    schema = too_many["content"]["application/json"]["schema"]
    assert schema["allOf"][0] == {"$ref": "#/components/schemas/ErrorOut"}
    assert schema["allOf"][1]["properties"]["error_code"]["enum"] == [
        "STAMP_COOLDOWN",
        "DAILY_STAMP_LIMIT",
        "RATE_LIMITED",
    ]
    assert "`STAMP_COOLDOWN`: Please wait {minutes} minutes between stamps" in too_many["description"]
    assert "Retry-After" in too_many["headers"]
    assert documented_codes(responses["403"]) == {"FORBIDDEN", "STAFF_PIN_REQUIRED", "INVALID_STAFF_PIN"}
    assert documented_codes(responses["423"]) == {"STAFF_PIN_LOCKED"}
    assert {"401", "404", "409", "413", "415", "422", "431", "500", "503"} <= responses.keys()


@pytest.mark.parametrize(
    ("method", "path", "status", "codes"),
    [
        (
            "post",
            f"{P}/programs/{{vendor_slug}}/enroll",
            "409",
            {"LOYALTY_CARD_ALREADY_EXISTS", "IDEMPOTENCY_KEY_REUSED"},
        ),
        ("post", f"{P}/programs/{{vendor_slug}}/enroll", "429", {"RATE_LIMITED"}),
        ("delete", f"{A}/api-keys/{{key_id}}", "404", {"API_KEY_NOT_FOUND"}),
        ("delete", f"{A}/api-keys/{{key_id}}", "409", {"LAST_ADMIN_KEY"}),
        ("get", f"{V}/customers/{{customer_id}}/export", "404", {"NOT_FOUND"}),
        ("post", f"{V}/points/earn", "409", {"ORDER_ALREADY_EARNED", "IDEMPOTENCY_KEY_REUSED"}),
        (
            "post",
            f"{V}/transactions/{{transaction_id}}/void",
            "400",
            {"TRANSACTION_NOT_VOIDABLE", "LOYALTY_CARD_INACTIVE", "MALFORMED_BODY"},
        ),
        ("get", f"{P}/health", "503", {"SERVICE_UNAVAILABLE"}),
    ],
)
def test_each_route_lists_its_codes_under_their_status(
    served: FastAPI, method: str, path: str, status: str, codes: set[str]
) -> None:
    assert documented_codes(served.openapi()["paths"][path][method]["responses"][status]) == codes


def test_codes_every_route_of_a_kind_answers_are_added_to_it(served: FastAPI) -> None:
    """Central, not repeated per route: a keyed route answers 401/403 (a public one does not), a route
    with a body 413/415, one with parameters 422; every route 500 and 503."""
    paths = served.openapi()["paths"]
    keyed_without_parameters = paths[f"{A}/stats"]["get"]["responses"]
    assert {"401", "403", "429", "431", "500", "503"} == keyed_without_parameters.keys() - {"200"}
    public_card = paths[f"{P}/cards/{{card_token}}"]["get"]["responses"]
    assert "401" not in public_card and "403" not in public_card and "413" not in public_card
    assert documented_codes(public_card["422"]) == {"VALIDATION_ERROR"}
    assert documented_codes(public_card["500"]) == {"INTERNAL_ERROR"}


def test_the_components_hold_the_envelope_and_every_code(served: FastAPI) -> None:
    schemas = served.openapi()["components"]["schemas"]
    assert schemas["ErrorCode"]["enum"] == [str(code) for code in ErrorCode]
    assert schemas["ErrorOut"]["properties"]["error_code"]["$ref"] == "#/components/schemas/ErrorCode"
    assert "HTTPValidationError" not in schemas  # FastAPI's own 422 shape is replaced by the envelope


def test_every_code_is_listed_on_some_route_or_answered_by_none(served: FastAPI) -> None:
    """A code no route lists must be one no route answers (an unknown path, say), and said so."""
    listed = {code for *_, responses in operations(served) for _, code in documented(responses)}
    not_of_a_route = {error.error_code for error in NOT_OF_A_ROUTE}
    assert sorted(set(ErrorCode) - listed - not_of_a_route) == []
    assert sorted(listed & not_of_a_route) == []


# --- what a route lists is what its code can raise ------------------------------------------------------
# Read from the source: the endpoint, its dependencies and every loyalty function they name, followed
# to their `raise` statements. Errors raised by objects' methods or by the framework around the route
# (the body's limits, the database's 503) are the common ones, which `common_errors` adds.

SRC = Path(loyalty.__file__).parent


@cache
def _names(module_name: str) -> dict[str, str] | None:
    """A loyalty module's names → the dotted names they stand for; None for a module outside loyalty."""
    module = importlib.import_module(module_name)
    path = getattr(module, "__file__", None)
    if not path or not Path(path).is_relative_to(SRC):
        return None
    tree = ast.parse(Path(path).read_text())
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.update({alias.asname or alias.name: f"{node.module}.{alias.name}" for alias in node.names})
        elif isinstance(node, ast.Import):
            names.update({alias.asname or alias.name: alias.name for alias in node.names})
    names.update(
        {
            node.name: f"{module_name}.{node.name}"
            for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        }
    )
    return names


def _dotted(node: ast.AST, names: dict[str, str]) -> str | None:
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.Attribute) and (base := _dotted(node.value, names)):
        return f"{base}.{node.attr}"
    return None


def _object(dotted: str | None) -> object:
    """What a dotted name of loyalty stands for (a module's attribute, a class's), or None."""
    if not dotted or not dotted.startswith("loyalty"):
        return None
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            found = getattr(found, attribute, None)
        return found
    return None


def raised_by(function: object, seen: set[object]) -> set[type[LoyaltyError]]:
    if not inspect.isfunction(function) or function in seen:
        return set()
    seen.add(function)
    names = _names(function.__module__)
    if names is None:
        return set()
    source = inspect.cleandoc("\n" + inspect.getsource(function))
    found: set[type[LoyaltyError]] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Raise) and node.exc is not None:
            error = _object(_dotted(node.exc.func if isinstance(node.exc, ast.Call) else node.exc, names))
            if inspect.isclass(error) and issubclass(error, LoyaltyError):
                found.add(error)
        elif isinstance(node, ast.Name | ast.Attribute):
            found |= raised_by(_object(_dotted(node, names)), seen)
    return found


def raised_by_route(route: APIRoute) -> set[type[LoyaltyError]]:
    seen: set[object] = set()
    found = raised_by(route.endpoint, seen)
    pending = list(route.dependant.dependencies)
    while pending:
        dependency = pending.pop()
        pending.extend(dependency.dependencies)
        found |= raised_by(dependency.call, seen)
    return found


def test_the_source_reading_finds_what_a_stamp_raises(served: FastAPI) -> None:
    """Not vacuous: through the service, the PIN check and the key's identification."""
    stamp = next(route for method, path, route, _ in operations(served) if path == f"{V}/stamp")
    found = {error.__name__ for error in raised_by_route(stamp)}
    assert {"StampCooldown", "DailyStampLimit", "InvalidStaffPin", "CardNotFound", "Unauthenticated"} <= found


def test_each_route_lists_every_error_its_code_raises_and_no_other(served: FastAPI) -> None:
    missing, stale = [], []
    for method, path, route, responses in operations(served):
        raised = answers(*raised_by_route(route))
        common = answers(*common_errors(route, keyed=not path.startswith(PUBLIC_PREFIX)))
        missing += [f"{method} {path}: {status} {code}" for status, code in sorted(raised - documented(responses))]
        stale += [
            f"{method} {path}: {status} {code}" for status, code in sorted(documented(responses) - raised - common)
        ]
    assert missing == [], "raised but not in the route's responses=error_responses(...)"
    assert stale == [], "listed, but nothing the route calls raises it"


# --- the frameworks' own refusals ------------------------------------------------------------------------


def _statuses_raised_by(package: Any) -> set[int]:
    """The literal statuses of `HTTPException(status_code=...)` in a package's source."""
    found: set[int] = set()
    for path in Path(package.__file__).parent.rglob("*.py"):
        text = path.read_text()
        found |= {int(status) for status in re.findall(r"HTTPException\(\s*status_code=(?:HTTP_)?(\d{3})", text)}
    return found


def test_every_status_starlette_and_fastapi_refuse_with_has_a_code_of_its_own() -> None:
    raised = _statuses_raised_by(starlette) | _statuses_raised_by(fastapi)
    assert {400, 404, 405} <= raised  # the reading finds them
    assert sorted(raised - FRAMEWORK_ERRORS.keys()) == []


@pytest.mark.anyio
async def test_an_unknown_route_is_route_not_found_not_a_missing_resource(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{V}/nothing-here")
    assert response.status_code == 404
    assert response.json() == {
        "error_code": "ROUTE_NOT_FOUND",
        "message": "No route serves this path",
        "details": {"identifier": f"{V}/nothing-here"},
    }
    french = await client.get("/nothing", headers={"Accept-Language": "fr"})
    assert french.json()["message"] == "Aucune route ne correspond à ce chemin"


@pytest.mark.anyio
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_a_body_that_is_not_json_is_415(
    client: httpx.AsyncClient, tenant: Tenant, content_type: str | None
) -> None:
    headers = {**tenant.headers, **({"Content-Type": content_type} if content_type else {})}
    response = await client.post(f"{V}/stamp", content=f'{{"card_id": {tenant.card_id}}}'.encode(), headers=headers)
    assert response.status_code == 415
    assert response.json()["error_code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert response.json()["details"] == {"expected": "application/json"}


@pytest.mark.anyio
@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "application/merge-patch+json"])
async def test_a_json_media_type_is_read(client: httpx.AsyncClient, tenant: Tenant, content_type: str) -> None:
    response = await client.post(
        f"{V}/cards", content=b'{"email": "json@example.com"}', headers={**tenant.headers, "Content-Type": content_type}
    )
    assert response.status_code == 201, response.text


@pytest.mark.anyio
async def test_a_body_fastapi_cannot_parse_is_malformed_body(client: httpx.AsyncClient) -> None:
    """JSON nested deeper than the decoder recurses: FastAPI's own 400, with a code of its own."""
    body = b'{"email": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    response = await client.post(
        f"{P}/programs/nowhere/enroll",
        content=body,
        headers={"Content-Type": "application/json", "Accept-Language": "de"},
    )
    assert response.status_code == 400
    assert response.json()["error_code"] == "MALFORMED_BODY"
    assert response.json()["message"] == "Der Inhalt der Anfrage konnte nicht gelesen werden"


# --- docs/api.md -------------------------------------------------------------------------------------------

API_MD = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def test_docs_api_md_tables_each_code_once_under_its_status() -> None:
    """The "Errors" table of docs/api.md is the enum: every code, once, with the status it answers."""
    section = API_MD.read_text().split("\n## Errors\n", 1)[1].split("\n## ", 1)[0]
    tabled: list[tuple[str, int]] = []
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 3 and cells[0].isdigit():
            tabled += [(code, int(cells[0])) for code in re.findall(r"`([A-Z_]+)`", cells[1])]
    expected = {(str(code), cls.status_code) for code, cls in error_classes().items()}
    assert sorted(expected - set(tabled)) == [], "codes missing from docs/api.md's table (or under another status)"
    assert sorted(set(tabled) - expected) == [], "codes in docs/api.md's table that are not ErrorCode's"
    assert len(tabled) == len(set(tabled)), "a code tabled twice"
