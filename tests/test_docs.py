"""The README is the newcomer's first page: it must name every setting the service reads."""

from pathlib import Path

from loyalty.config import Settings

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_lists_every_setting():
    text = README.read_text()
    missing = [f"LOYALTY_{name.upper()}" for name in Settings.model_fields if f"`LOYALTY_{name.upper()}`" not in text]
    assert missing == []


def test_readme_gives_the_two_commands():
    text = README.read_text()
    assert "make demo" in text and "make test" in text
