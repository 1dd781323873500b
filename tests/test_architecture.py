"""Rules of the codebase's shape, enforced rather than only described."""

from __future__ import annotations

import ast
import gc
import inspect
import re
from enum import StrEnum
from pathlib import Path

import pytest

from loyalty import errors

SRC = Path(__file__).resolve().parents[1] / "src" / "loyalty"
SPREADSHEET = SRC / "services" / "spreadsheet.py"


def test_every_csv_goes_through_the_one_writer() -> None:
    """services/spreadsheet.py neutralises formulas and marks the encoding; no other module may write
    CSV by itself, or a vendor's spreadsheet could run what a customer typed."""
    writers = [
        f"{path.relative_to(SRC)}:{number}"
        for path in SRC.rglob("*.py")
        if path != SPREADSHEET
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\bcsv\.(writer|DictWriter)\b|^\s*import csv\b|^\s*from csv import", line)
    ]
    assert writers == []


# --- layers point one way: api → services → models --------------------------------------------------

FRAMEWORKS = ("fastapi", "starlette", "loyalty.api")


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _layer_breaches(root: Path, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(root)} imports {name}"
        for path in sorted(root.rglob("*.py"))
        for name in _imports(path)
        if any(name == prefix or name.startswith(prefix + ".") for prefix in forbidden)
    ]


def _commits(root: Path) -> list[str]:
    return [
        f"{path.relative_to(root)}:{node.lineno}"
        for path in sorted(root.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute) and node.attr in {"commit", "rollback"}
    ]


def test_services_know_nothing_of_http() -> None:
    """Services are called by the API, the CLI, the worker and the tests alike (DESIGN: api → services)."""
    assert _layer_breaches(SRC / "services", FRAMEWORKS) == []


def test_models_know_nothing_above_them() -> None:
    assert _layer_breaches(SRC / "models", (*FRAMEWORKS, "loyalty.services")) == []


def test_services_never_commit() -> None:
    """The request's unit of work commits once, on success (db.py); a service that committed would
    split a request's writes and survive its rollback."""
    assert _commits(SRC / "services") == []


def test_wallet_formats_know_nothing_of_http_or_the_database() -> None:
    """`wallet/` draws passes from `CardFacts` (docs/code-map.md): the services read, the API answers.
    (The models' enums, such as `TransactionType`, it may name.)"""
    forbidden = (*FRAMEWORKS, "sqlalchemy", "loyalty.services", "loyalty.db")
    assert _layer_breaches(SRC / "wallet", forbidden) == []


def test_the_layer_checks_catch_a_breach(tmp_path: Path) -> None:
    """The checks above are not vacuous: a service that imports FastAPI and commits is caught."""
    (tmp_path / "bad.py").write_text("from fastapi import Request\n\n\nasync def f(s):\n    await s.commit()\n")
    assert _layer_breaches(tmp_path, FRAMEWORKS) == ["bad.py imports fastapi"]
    assert _commits(tmp_path) == ["bad.py:5"]


# --- the error tree drawn in errors.py is the real one ----------------------------------------------


def _drawn_tree() -> dict[str, tuple[int, set[str]]]:
    """errors.py's docstring drawing: each class under LoyaltyError → (its status, the classes under it)."""
    drawn: dict[str, tuple[int, set[str]]] = {}
    parent = None
    for line in (errors.__doc__ or "").splitlines():
        if branch := re.match(r"\s*[├└]── (\w+) \((\d+)\)\s*(.*)", line):
            parent = branch[1]
            drawn[parent] = (int(branch[2]), set(re.findall(r"\w+", branch[3])))
        elif parent and (more := re.match(r"\s*│\s+(\S.*)", line)):
            drawn[parent][1].update(re.findall(r"\w+", more[1]))
    return drawn


def _error_classes() -> list[type[errors.LoyaltyError]]:
    return [
        cls
        for cls in vars(errors).values()
        if inspect.isclass(cls) and issubclass(cls, errors.LoyaltyError) and cls is not errors.LoyaltyError
    ]


def test_the_error_tree_in_errors_docstring_is_the_real_one() -> None:
    drawn = _drawn_tree()
    real: dict[str, tuple[int, set[str]]] = {}
    for cls in _error_classes():
        base = cls.__mro__[1]
        assert issubclass(base, errors.LoyaltyError)
        if base is errors.LoyaltyError:
            real.setdefault(cls.__name__, (cls.status_code, set()))
        else:
            real.setdefault(base.__name__, (base.status_code, set()))[1].add(cls.__name__)
    assert drawn == real


def test_no_two_errors_define_the_same_code() -> None:
    """A code names one error: a client must not confuse an unknown API key with an unknown route."""
    defined = [cls.error_code for cls in _error_classes() if "error_code" in vars(cls)]
    assert sorted(code for code in set(defined) if defined.count(code) > 1) == []


# --- the error codes are a closed set: the ErrorCode enum ------------------------------------------

# Classes that keep their parent's code on purpose: the same answer, refined for the log or the renderer.
SAME_ANSWER_AS_THEIR_PARENT = {
    "DatabaseUnavailable": "a SERVICE_UNAVAILABLE whose reason (busy, unreachable, lost) is logged",
    "FieldErrors": "a VALIDATION_ERROR built from pydantic's errors (api/errors.py)",
    "VendorSwitchedOff": "a FORBIDDEN whose details say `vendor_inactive` (API.md) and whose message says so",
}


def _all_error_classes(root: type[errors.LoyaltyError] = errors.LoyaltyError) -> list[type[errors.LoyaltyError]]:
    """Every subclass, wherever it is defined (api/errors.py has FieldErrors)."""
    found = []
    for sub in root.__subclasses__():
        found += [sub, *_all_error_classes(sub)]
    return found


def _codes_in_use() -> dict[errors.ErrorCode, list[str]]:
    used: dict[errors.ErrorCode, list[str]] = {}
    for cls in _all_error_classes():
        if "error_code" in vars(cls):
            used.setdefault(cls.error_code, []).append(cls.__name__)
    return used


def test_every_error_code_is_a_member_of_the_enum_and_every_member_is_used() -> None:
    import loyalty.api.errors  # noqa: F401  (FieldErrors)

    bad = sorted(
        f"{cls.__name__}: {vars(cls)['error_code']!r}"
        for cls in _all_error_classes()
        if "error_code" in vars(cls) and not isinstance(vars(cls)["error_code"], errors.ErrorCode)
    )
    assert bad == [], "a code outside ErrorCode"
    assert sorted(set(errors.ErrorCode) - set(_codes_in_use())) == [], "ErrorCode members no class uses"


def test_a_class_without_a_code_of_its_own_is_a_base_or_a_deliberate_refinement() -> None:
    """A new 404 that forgot its code must not answer its parent's: NotFound has none to give."""
    import loyalty.api.errors  # noqa: F401  (FieldErrors)

    bases_with_subclasses = {cls for cls in _all_error_classes() if cls.__subclasses__()}
    inheriting = sorted(
        cls.__name__
        for cls in _all_error_classes()
        if "error_code" not in vars(cls) and hasattr(cls, "error_code") and cls not in bases_with_subclasses
    )
    assert inheriting == sorted(SAME_ANSWER_AS_THEIR_PARENT)
    codeless = sorted(cls.__name__ for cls in _all_error_classes() if not hasattr(cls, "error_code"))
    assert codeless == ["BadRequest", "Conflict", "NotFound", "TooManyRequests"]


def test_the_enum_guards_the_codes_when_a_class_is_defined() -> None:
    """The checks above are not vacuous: a class with a code outside the enum is refused as it is defined,
    a base without a code cannot be raised, and a member no class uses is found."""
    members = [(code.name, code.value) for code in errors.ErrorCode] + [("NEVER", "NEVER")]
    extended = StrEnum("ErrorCode", members)  # type: ignore[misc]  # mypy reads only literal member lists
    assert sorted(set(extended) - {extended(code) for code in _codes_in_use()}) == [extended["NEVER"]]
    with pytest.raises(TypeError, match="no error code"):
        errors.NotFound(7)
    with pytest.raises(TypeError, match="not an ErrorCode member"):
        type("Bogus", (errors.NotFound,), {"error_code": "BOGUS_NOT_FOUND"})
    gc.collect()  # the refused class was registered as a subclass before it was refused: gone now
    assert "Bogus" not in {cls.__name__ for cls in errors.NotFound.__subclasses__()}
