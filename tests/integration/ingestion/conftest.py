"""Fixtures of the ingestion tests: a real app server against a database of its own that
a test takes away (tests/outage_server.py)."""

from tests.outage_server import outage_database, proxy, server  # noqa: F401
