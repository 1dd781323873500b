"""The only conftest: it registers the one fixture module, tests/fixtures.py, for the whole suite."""

pytest_plugins = ["tests.fixtures"]
