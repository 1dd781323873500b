"""/docs explains every answer: each field of each schema a success answer returns (and of the schemas
those refer to) has a description in /openapi.json (pydantic's `Field(description=...)`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from loyalty.app import create_app
from tests.fixtures import test_settings


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if "$ref" in node:
            yield node["$ref"].rpartition("/")[2]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_every_field_of_every_answer_has_a_description() -> None:
    spec = create_app(test_settings("sqlite:///unused.db")).openapi()
    schemas = spec["components"]["schemas"]
    todo = [
        name
        for path in spec["paths"].values()
        for operation in path.values()
        for status, answer in operation.get("responses", {}).items()
        if status.startswith("2")
        for name in _refs(answer)
    ]
    assert todo, "no answer refers to a schema"
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += _refs(schemas[name])
    undescribed = sorted(
        f"{name}.{field}"
        for name in seen
        for field, schema in schemas[name].get("properties", {}).items()
        if not schema.get("description")
    )
    assert undescribed == []
