"""The fixture entry point: every fixture lives in ``tests.support.fixtures``."""

pytest_plugins = ["tests.support.fixtures", "tests.support.redis", "pytester"]
