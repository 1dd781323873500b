"""Every public service function says what it does in a docstring, and every public coroutine (the
ones that read or change the database) names the domain errors it raises, or says it raises none."""

from __future__ import annotations

import ast
from pathlib import Path

from loyalty import errors

SERVICES = Path(__file__).resolve().parents[1] / "src" / "loyalty" / "services"
ERROR_NAMES = {
    name for name, value in vars(errors).items() if isinstance(value, type) and issubclass(value, errors.LoyaltyError)
}


def _public_functions() -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    found = []
    for path in sorted(SERVICES.glob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not node.name.startswith("_"):
                found.append((f"services/{path.name}:{node.lineno} {node.name}", node))
    return found


def test_every_public_service_function_has_a_docstring() -> None:
    assert [where for where, node in _public_functions() if not ast.get_docstring(node)] == []


def test_every_public_service_coroutine_names_its_errors() -> None:
    silent = []
    for where, node in _public_functions():
        doc = " ".join((ast.get_docstring(node) or "").split())
        names_an_error = any(name in doc for name in ERROR_NAMES)
        if isinstance(node, ast.AsyncFunctionDef) and not names_an_error and "raises nothing" not in doc.lower():
            silent.append(where)
    assert silent == [], "say which loyalty.errors classes it raises, or 'Raises nothing'"
