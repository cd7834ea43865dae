"""The test suite's settings: the product's own (mes/settings.py) with the test run's
defaults, so `python -m pytest` needs no variable.

Without DATABASE_URL the tests run on SQLite in memory; with one naming PostgreSQL, on
PostgreSQL (pytest-django makes its test database, test_<name>, either way). The
defaults are set in the environment, so the processes a test starts inherit them; a
test that needs a process without settings builds its environment from nothing.
"""

import os

os.environ.setdefault("DATABASE_URL", "sqlite://:memory:")
os.environ.setdefault("SECRET_KEY", "test-only-not-a-secret")

from mes.settings import *  # noqa: E402, F403
