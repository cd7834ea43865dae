"""The execution migrations of issue 24 are safe while traffic flows (docs/operations.md):
no column they add to a table in use is checked against its rows under the table's lock."""

import io
import re

import pytest
from django.core.management import call_command

from tests.postgres import needs_postgresql

# Tables the migrations create: their own columns are checked on an empty table.
NEW_TABLES = {"execution_failuredisposition", "execution_routestep_allowed_stations"}


@needs_postgresql("the statements PostgreSQL runs, not SQLite's table rebuilds")
@pytest.mark.django_db
def test_no_column_added_to_a_table_in_use_carries_a_check_or_a_rewrite():
    out = io.StringIO()
    call_command("sqlmigrate", "execution", "0009_execution_fields", stdout=out)
    added = [
        line
        for line in out.getvalue().splitlines()
        if "ADD COLUMN" in line
        and re.match(r'ALTER TABLE "(\w+)"', line).group(1) not in NEW_TABLES
    ]
    assert len(added) == 10, added  # station 1, run 4, route step 1, track 3, unit 1
    for line in added:
        assert "CHECK" not in line, line
        # A default that is not a constant would rewrite the table.
        default = re.search(r"DEFAULT (\S+)", line)
        assert default is None or default.group(1) in ("''", "false"), line
