"""The documentation a newcomer reads: the README names every setting; the interactive docs (/docs,
/redoc) work without internet; docs/api.md and /openapi.json name the same routes, docs/api.md every
error code; nothing points outside the repository."""

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from loyalty import migrate
from loyalty.app import create_app
from loyalty.config import Settings
from loyalty.errors import ErrorCode
from tests import databases
from tests.api.live_server import serve
from tests.fixtures import test_settings

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_lists_every_setting() -> None:
    text = README.read_text()
    missing = [f"LOYALTY_{name.upper()}" for name in Settings.model_fields if f"`LOYALTY_{name.upper()}`" not in text]
    assert missing == []


def test_readme_gives_the_two_commands() -> None:
    text = README.read_text()
    assert "make demo" in text and "make test" in text


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real server (uvicorn, a free port) on a migrated SQLite file of its own."""
    url = databases.sqlite_database(Path(tmp_path_factory.mktemp("docs")))
    migrate.upgrade(url)
    with serve(create_app(test_settings(url))) as base_url:
        yield base_url


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_interactive_docs_load_nothing_from_the_internet(served: str, page: str) -> None:
    """Swagger UI and ReDoc work offline: every URL their page loads is the service's own, and answers."""
    answer = httpx.get(served + page)
    assert answer.status_code == 200
    html = answer.text
    loaded = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html) + re.findall(
        r"""url:\s*['"]([^'"]+)['"]""", html
    )
    assert loaded, html
    outside = [link for link in loaded if not link.startswith("/")]
    assert outside == [], f"{page} loads from outside the service: {outside}"
    kinds = set()
    for link in loaded:
        asset = httpx.get(served + link)
        assert asset.status_code == 200, link
        kinds.add(asset.headers["content-type"].split(";")[0])
    assert "text/javascript" in kinds or "application/javascript" in kinds
    if page == "/docs":
        assert "text/css" in kinds


API_MD = Path(__file__).resolve().parents[1] / "docs" / "api.md"
METHODS = {"GET", "HEAD", "POST", "PATCH", "PUT", "DELETE"}


def documented_routes() -> set[tuple[str, str]]:
    """Each `| METHOD | `/path` |` row of docs/api.md (`GET, HEAD` names two), under the prefix its
    `## … — `/prefix`` heading names."""
    routes: set[tuple[str, str]] = set()
    prefix = ""
    for line in API_MD.read_text().splitlines():
        if line.startswith("## "):
            prefix = line.split("`")[1] if " — `/" in line else ""
        cells = [cell.strip() for cell in line.split("|")]
        methods = cells[1].split(", ") if len(cells) > 3 else []  # "GET, HEAD": one row, both methods
        if methods and set(methods) <= METHODS:
            assert prefix, f"a route outside an audience's section: {line}"
            routes.update((method, prefix + cells[2].strip("`")) for method in methods)
    return routes


def test_docs_api_md_and_openapi_json_name_the_same_routes(served: str) -> None:
    spec = httpx.get(f"{served}/openapi.json").json()
    served_routes = {(method.upper(), path) for path, item in spec["paths"].items() for method in item}
    documented = documented_routes()
    assert sorted(served_routes - documented) == [], "served but not in docs/api.md"
    assert sorted(documented - served_routes) == [], "in docs/api.md but not served"


def test_docs_api_md_lists_every_error_code() -> None:
    codes = {str(code) for code in ErrorCode}
    text = API_MD.read_text()
    assert sorted(code for code in codes if f"`{code}`" not in text) == []


# docs/rules.md still names ../shared/API.md (its owner is to point it at docs/api.md, then it joins here).
SELF_CONTAINED = (README, *sorted((README.parent / "docs").glob("*.md")))


def test_no_document_points_outside_the_repository() -> None:
    """A clone has only the repository: links and paths in README.md and docs/ stay inside it."""
    root = README.parent
    outside = []
    for document in SELF_CONTAINED:
        text = document.read_text()
        outside += [f"{document.name}: {hit}" for hit in re.findall(r"\.\./[\w./-]*", text)]
        for target in re.findall(r"\]\(([^)#]+)\)", text):  # markdown links to files
            if "://" not in target and not (document.parent / target).resolve().is_relative_to(root):
                outside.append(f"{document.name}: {target}")
    assert outside == []
