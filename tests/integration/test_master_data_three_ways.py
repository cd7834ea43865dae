"""The three ways a plant sets up its master data (docs/master-data.md) give the same
master data from docs/examples/master-data/: `manage.py import_master_data`, the back
office's import of the example tables, and the API's PUTs of the example bundle."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction
from rest_framework.test import APIClient

from tests.admin_tables import import_example_tables
from tests.factories import person_in_role
from tests.master_data_bundle import CSV_FOLDER, JSON_BUNDLE, master_data_snapshot, put_line

pytestmark = pytest.mark.django_db


def by_the_command(person):
    call_command("import_master_data", str(CSV_FOLDER), stdout=StringIO())


def by_the_json_file(person):
    call_command("import_master_data", str(JSON_BUNDLE), stdout=StringIO())


def by_the_admin_import(person):
    client = APIClient()
    client.force_login(person)
    import_example_tables(client)


def by_the_api(person):
    client = APIClient()
    client.force_login(person)
    put_line(client)


def test_the_command_the_admin_import_and_the_api_give_the_same_master_data():
    person = person_in_role("integration admin")
    snapshots = {}
    for way in (by_the_command, by_the_json_file, by_the_admin_import, by_the_api):
        with transaction.atomic():  # each way on an empty database
            way(person)
            snapshots[way.__name__] = master_data_snapshot()
            transaction.set_rollback(True)

    first = snapshots["by_the_command"]
    assert len(first["stations"]) == 5 and len(first["specs"]) == 12
    assert len(first["steps"]) == 5 and len(first["units"]) == 200
    for name, snapshot in snapshots.items():
        assert snapshot == first, name
