"""Each PostgreSQL connection names its prepared statements apart from every other's
(mes/prepared_statements.py), so a statement a pooler sends to another server connection
can never run a statement of the same name prepared there."""

import pytest
from django.db import connections

from tests.postgres import needs_postgresql

pytestmark = [pytest.mark.postgres_only, needs_postgresql("prepared statements")]


def names_prepared_by_a_new_connection() -> set[str]:
    """A connection of its own, opened as the app opens one (so the app's
    connection_created hooks run): prepare one statement and list the names its session
    holds."""
    default = connections["default"]  # its settings name the test database
    wrapper = type(default)(dict(default.settings_dict), alias=default.alias)
    try:
        wrapper.ensure_connection()
        raw = wrapper.connection
        raw.execute("SELECT 1 + %s", [1], prepare=True)
        return {name for (name,) in raw.execute("SELECT name FROM pg_prepared_statements")}
    finally:
        wrapper.close()


@pytest.mark.django_db
def test_two_connections_name_their_first_prepared_statement_differently():
    first, second = names_prepared_by_a_new_connection(), names_prepared_by_a_new_connection()
    assert len(first) == 1 and len(second) == 1, (first, second)
    assert first != second
    # psycopg's own naming, which every connection shared, starts at _pg3_0.
    assert "_pg3_0" not in first | second
