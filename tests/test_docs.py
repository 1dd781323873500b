"""The documentation a newcomer reads: the README names every setting, and the interactive docs
(/docs, /redoc) work without internet."""

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from loyalty import migrate
from loyalty.app import create_app
from loyalty.config import Settings
from tests import databases
from tests.api.live_server import serve
from tests.conftest import test_settings

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_lists_every_setting():
    text = README.read_text()
    missing = [f"LOYALTY_{name.upper()}" for name in Settings.model_fields if f"`LOYALTY_{name.upper()}`" not in text]
    assert missing == []


def test_readme_gives_the_two_commands():
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
