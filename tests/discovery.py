"""Google's `walletobjects.v1` discovery document as the judge of every JSON body we send to Google Wallet.

The document is the one google-api-python-client ships (`googleapiclient/discovery_cache/documents/
walletobjects.v1.json`): the library is a test dependency for this file only, and nothing of it is imported but
the package that holds the file. Its `schemas` describe each resource (`LoyaltyClass`, `LoyaltyObject`,
`AddMessageRequest`, ...) and its `resources.*.methods.*` each REST method (`httpMethod`, `path` under the root
URL, `request` and `response` schemas, query `parameters`).

    problems = validate("LoyaltyObject", body)               # [] when Google would take it
    problems = validate("LoyaltyObject", changes, patch=True)  # a PATCH body: null clears a field
    assert_valid("LoyaltyClass", body, required=True)        # raises AssertionError listing every problem
    method_schema("PATCH", "/walletobjects/v1/loyaltyObject/1234.abc")  # "LoyaltyObject"

What `validate` calls a problem, each named by its JSON path (`$.messages[0].messageType`):
- a property the schema does not have (the proto3 JSON parser behind the API refuses unknown names), and a
  property the document marks `"deprecated": true` (`kind`, `version`, `ImageUri.description`, ...);
- a value of the wrong JSON type: string, boolean, integer (a JSON number without a fraction; true and false are
  not integers), number, array, object. An `int64`/`uint64` value may be a JSON string of decimal digits or a
  JSON integer (the proto3 JSON mapping writes 64-bit integers as strings); `int32`/`uint32` must fit, a `byte`
  string must be base64. `additionalProperties` maps check each value against their schema;
- an enum value the schema does not list, and one it lists with `enumDeprecated` true: Google keeps legacy
  lower-camel spellings such as `"active"` or `"qrCode"` as deprecated aliases of `"ACTIVE"` and `"QR_CODE"`;
- a null: allowed only with `patch=True`, where it clears the field (Google's patch semantics), and never as an
  array item;
- with `required=True` (an insert or update body, never a patch), a property whose description says it is
  required ("Required. ..." or "This is a required field ...") missing from an object that has its schema.
"""

from __future__ import annotations

import difflib
import functools
import importlib.resources
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DOCUMENT",
    "Method",
    "MethodMatch",
    "assert_valid",
    "document",
    "find_method",
    "method_schema",
    "methods",
    "required_properties",
    "schema",
    "validate",
]

DOCUMENT = "walletobjects.v1.json"
_PACKAGE = "googleapiclient.discovery_cache"

_INT_RANGES: dict[str, tuple[int, int]] = {
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint64": (0, 2**64 - 1),
}
_WIDE_INTEGERS = frozenset({"int64", "uint64"})  # a JSON string or a JSON integer
_DECIMAL = re.compile(r"-?[0-9]+")
_REQUIRED = re.compile(r"^Required\.|\bThis is a required field\b")
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]*={0,2}")
_TEMPLATE = re.compile(r"\{(\+?)([A-Za-z_][A-Za-z0-9_]*)\}")


@functools.cache
def document() -> Mapping[str, Any]:
    """The discovery document, read once from google-api-python-client's package."""
    resource = importlib.resources.files(_PACKAGE).joinpath("documents", DOCUMENT)
    loaded: Mapping[str, Any] = json.loads(resource.read_text(encoding="utf-8"))
    return loaded


def schema(name: str) -> Mapping[str, Any]:
    """The document's schema `name` (e.g. "LoyaltyObject"); KeyError for a name it does not define."""
    schemas: Mapping[str, Any] = document()["schemas"]
    if name not in schemas:
        close = difflib.get_close_matches(name, list(schemas), n=3)
        raise KeyError(f"{DOCUMENT} has no schema {name!r}" + (f" (did you mean {', '.join(close)}?)" if close else ""))
    found: Mapping[str, Any] = schemas[name]
    return found


@functools.cache
def required_properties(name: str) -> frozenset[str]:
    """The properties of schema `name` that its own descriptions call required."""
    properties: Mapping[str, Any] = schema(name).get("properties", {})
    return frozenset(key for key, spec in properties.items() if _REQUIRED.search(spec.get("description", "")))


# --- methods ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Method:
    """One REST method of the document, e.g. `walletobjects.loyaltyobject.patch`."""

    id: str  # "walletobjects.loyaltyobject.patch"
    resource: str  # "loyaltyobject" (the document's resource key, lower case)
    name: str  # "patch"
    http_method: str  # "PATCH"
    path: str  # "/walletobjects/v1/loyaltyObject/{resourceId}": the URL path under the root URL
    request: str | None  # the request body's schema, None for a method without a body
    response: str | None
    query_parameters: frozenset[str]  # the method's own query parameters and the document's global ones
    scopes: tuple[str, ...]

    @functools.cached_property
    def _pattern(self) -> re.Pattern[str]:
        pattern, position = "", 0
        for template in _TEMPLATE.finditer(self.path):
            pattern += re.escape(self.path[position : template.start()])
            reserved, variable = template.groups()
            pattern += f"(?P<{variable}>{'.+' if reserved else '[^/]+'})"
            position = template.end()
        return re.compile(pattern + re.escape(self.path[position:]))

    @functools.cached_property
    def _literal_length(self) -> int:
        return len(_TEMPLATE.sub("", self.path))

    def match(self, path: str) -> dict[str, str] | None:
        """The path parameters if `path` (no query string) is this method's path, else None."""
        found = self._pattern.fullmatch(path)
        return None if found is None else found.groupdict()


@dataclass(frozen=True)
class MethodMatch:
    """A request's method, and its path parameters (e.g. {"resourceId": "1234.abc"})."""

    method: Method
    path_parameters: dict[str, str]


@functools.cache
def methods() -> tuple[Method, ...]:
    """Every method of the document, those with the longest literal path first (a literal segment wins over a
    `{parameter}`)."""
    doc = document()
    global_parameters = frozenset(doc.get("parameters", {}))
    prefix = "/" + doc.get("servicePath", "")
    found: list[Method] = []

    def walk(resources: Mapping[str, Any]) -> None:
        for resource_name, resource in resources.items():
            for method_name, spec in resource.get("methods", {}).items():
                parameters: Mapping[str, Any] = spec.get("parameters", {})
                found.append(
                    Method(
                        id=spec["id"],
                        resource=resource_name,
                        name=method_name,
                        http_method=spec["httpMethod"],
                        path=prefix + spec["path"],
                        request=spec.get("request", {}).get("$ref"),
                        response=spec.get("response", {}).get("$ref"),
                        query_parameters=global_parameters
                        | {key for key, value in parameters.items() if value.get("location") == "query"},
                        scopes=tuple(spec.get("scopes", ())),
                    )
                )
            walk(resource.get("resources", {}))

    walk(doc["resources"])
    return tuple(sorted(found, key=lambda method: -method._literal_length))


def find_method(http_method: str, path: str) -> MethodMatch:
    """The document's method for `http_method` on `path` (e.g. "/walletobjects/v1/loyaltyObject/1.a/addMessage";
    a query string is ignored). LookupError when no method has that path and HTTP method."""
    path = path.split("?", 1)[0]
    if not path.startswith("/"):
        path = "/" + path
    http_method = http_method.upper()
    for method in methods():
        if method.http_method != http_method:
            continue
        parameters = method.match(path)
        if parameters is not None:
            return MethodMatch(method, parameters)
    raise LookupError(f"{DOCUMENT} has no method {http_method} {path}")


def method_schema(http_method: str, path: str) -> str | None:
    """The request body's schema of the method `http_method path` (None when it takes no body, as a GET)."""
    return find_method(http_method, path).method.request


# --- validation ---------------------------------------------------------------------------------------------


def validate(schema_name: str, body: Any, *, patch: bool = False, required: bool = False) -> list[str]:
    """Every problem of `body` as a `schema_name` (the module's docstring lists them); [] when it is valid.
    `patch`: a PATCH body, where null clears a field. `required`: also report the required properties missing
    (an insert or update body; ignored with `patch`)."""
    problems: list[str] = []
    _Validator(problems, patch=patch, required=required and not patch).check({"$ref": schema_name}, body, "$")
    return problems


def assert_valid(schema_name: str, body: Any, *, patch: bool = False, required: bool = False) -> None:
    """`validate`, raising AssertionError with every problem, one a line."""
    problems = validate(schema_name, body, patch=patch, required=required)
    if problems:
        raise AssertionError(f"not a valid {schema_name} for {DOCUMENT}:\n" + "\n".join(problems))


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if re.fullmatch(r"[A-Za-z_$][A-Za-z0-9_$]*", key) else f"{path}[{json.dumps(key)}]"


class _Validator:
    def __init__(self, problems: list[str], *, patch: bool, required: bool) -> None:
        self.problems = problems
        self.patch = patch
        self.required = required

    def problem(self, path: str, text: str) -> None:
        self.problems.append(f"{path}: {text}")

    def check(self, spec: Mapping[str, Any], value: Any, path: str) -> None:
        name = spec.get("$ref")
        if name is not None:
            spec = schema(name)
        if value is None:
            if not self.patch:
                self.problem(path, "null (allowed only in a PATCH body, where it clears the field)")
            return
        kind = spec.get("type")
        json_type = _json_type(value)
        if kind == "object":
            if json_type != "object":
                self.problem(path, f"expected an object{f' ({name})' if name else ''}, got {json_type}")
                return
            self.check_object(spec, name, value, path)
        elif kind == "array":
            if json_type != "array":
                self.problem(path, f"expected an array, got {json_type}")
                return
            items: Mapping[str, Any] = spec.get("items", {})
            for index, item in enumerate(value):
                if item is None:
                    self.problem(f"{path}[{index}]", "null in an array")
                else:
                    self.check(items, item, f"{path}[{index}]")
        elif kind in {"string", "integer", "number", "boolean"}:
            self.check_scalar(spec, value, json_type, path)
        # "any" or no type: anything goes

    def check_object(self, spec: Mapping[str, Any], name: str | None, value: Mapping[str, Any], path: str) -> None:
        properties: Mapping[str, Any] = spec.get("properties", {})
        extra: Mapping[str, Any] | None = spec.get("additionalProperties")
        for key, item in value.items():
            where = _child(path, key)
            if key in properties:
                prop: Mapping[str, Any] = properties[key]
                if prop.get("deprecated"):
                    hint = prop.get("description", "").split("\n")[0][:120]
                    self.problem(where, f"deprecated field of {name or 'this object'} ({hint})")
                self.check(prop, item, where)
            elif extra is not None:
                self.check(extra, item, where)
            else:
                close = difflib.get_close_matches(key, list(properties), n=1)
                self.problem(
                    where,
                    f"unknown field of {name or 'this object'}" + (f" (did you mean {close[0]!r}?)" if close else ""),
                )
        if self.required and name is not None:
            for missing in sorted(required_properties(name) - set(value)):
                self.problem(_child(path, missing), f"missing (required in {name})")

    def check_scalar(self, spec: Mapping[str, Any], value: Any, json_type: str, path: str) -> None:
        kind, number_format = spec["type"], spec.get("format")
        if number_format in _INT_RANGES:
            self.check_integer(number_format, value, json_type, path, as_string=kind == "string")
        elif kind == "string":
            if json_type != "string":
                self.problem(path, f"expected a string, got {json_type}")
                return
            if number_format == "byte" and not _is_base64(value):
                self.problem(path, "expected base64 (format byte)")
        elif kind == "number":
            if json_type not in {"integer", "number"}:
                self.problem(path, f"expected a number, got {json_type}")
                return
        elif kind == "integer":
            self.check_integer(None, value, json_type, path, as_string=False)
            return
        elif kind == "boolean" and json_type != "boolean":
            self.problem(path, f"expected a boolean, got {json_type}")
            return
        if "enum" in spec:
            self.check_enum(spec, value, path)

    def check_integer(
        self, number_format: str | None, value: Any, json_type: str, path: str, *, as_string: bool
    ) -> None:
        wide = number_format in _WIDE_INTEGERS
        described = f"an integer{f' ({number_format})' if number_format else ''}"
        if json_type == "string" and (wide or as_string):
            if not _DECIMAL.fullmatch(value):
                self.problem(path, f"expected {described} as a string of decimal digits, got {value!r}")
                return
            number = int(value)
        elif json_type == "integer":
            if as_string and not wide:
                self.problem(path, f"expected {described} as a string, got integer")
                return
            number = value
        else:
            accepted = " (a string or an integer)" if wide else (" as a string" if as_string else "")
            self.problem(path, f"expected {described}{accepted}, got {json_type}")
            return
        if number_format is not None:
            low, high = _INT_RANGES[number_format]
            if not low <= number <= high:
                self.problem(path, f"{number} is out of the {number_format} range")

    def check_enum(self, spec: Mapping[str, Any], value: Any, path: str) -> None:
        values: list[Any] = spec["enum"]
        if value not in values:
            self.problem(path, f"{value!r} is not one of {values}")
            return
        deprecated: list[bool] = spec.get("enumDeprecated", [])
        index = values.index(value)
        if index < len(deprecated) and deprecated[index]:
            modern = [
                candidate
                for candidate, old in zip(values, deprecated + [False] * len(values), strict=False)
                if not old and _folded(candidate) == _folded(value)
            ]
            use = f"; use {modern[0]!r}" if modern else ""
            self.problem(path, f"{value!r} is a deprecated spelling (enumDeprecated){use}")


def _folded(value: Any) -> str:
    return str(value).replace("_", "").lower()


def _is_base64(text: str) -> bool:
    """Standard or URL-safe base64, padded or not."""
    return _BASE64.fullmatch(text) is not None and len(text.rstrip("=")) % 4 != 1
