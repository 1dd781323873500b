"""Request bodies have one home: the services' models (the domain's input), used by the API under
their one name. api/schemas holds the answers' shapes only: no request body, no second name for a
services model (an empty subclass or a re-export)."""

from __future__ import annotations

import importlib
import pkgutil

from pydantic import BaseModel

import loyalty.api.schemas
from loyalty.app import create_app
from loyalty.services.bodies import RequestBody
from tests.fixtures import test_settings


def test_every_body_the_api_validates_is_a_services_model() -> None:
    """Each request body of /openapi.json is named after a RequestBody model of loyalty.services, and no
    RequestBody model is defined anywhere else."""
    spec = create_app(test_settings("sqlite:///unused.db")).openapi()
    bodies = {
        content["schema"]["$ref"].rpartition("/")[2]
        for path in spec["paths"].values()
        for operation in path.values()
        for content in operation.get("requestBody", {}).get("content", {}).values()
        if "$ref" in content.get("schema", {})
    }
    assert bodies, "no route takes a body"
    models = _subclasses(RequestBody)
    outside = sorted(f"{model.__module__}.{model.__qualname__}" for model in models if not _in_services(model))
    assert outside == [], "request bodies outside services/"
    services_names = {model.__name__ for model in models if _in_services(model)}
    assert sorted(bodies - services_names) == [], "bodies the API validates that are not services' models"


def test_api_schemas_define_no_request_body_and_rename_no_services_model() -> None:
    found = []
    for module_info in pkgutil.iter_modules(loyalty.api.schemas.__path__):
        module = importlib.import_module(f"loyalty.api.schemas.{module_info.name}")
        for name, value in vars(module).items():
            if not (isinstance(value, type) and issubclass(value, BaseModel)):
                continue
            if issubclass(value, RequestBody) and value.__module__ == module.__name__:
                found.append(f"{module.__name__}.{name}: a request body outside services/")
            elif _in_services(value) or any(_in_services(base) for base in value.__bases__):
                found.append(f"{module.__name__}.{name}: a second name for a services model")
    assert found == []


def _subclasses(cls: type) -> list[type]:
    found: list[type] = []
    subclasses: list[type] = cls.__subclasses__()
    for sub in subclasses:
        found += [sub, *_subclasses(sub)]
    return found


def _in_services(model: type) -> bool:
    return model.__module__.startswith("loyalty.services.")
