"""The only conftest: it registers the fixture modules for the whole suite: tests/fixtures.py, and
tests/browser.py for the tests in a real browser."""

pytest_plugins = ["tests.fixtures", "tests.browser"]
