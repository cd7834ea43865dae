"""Master-data calls at the same moment, on PostgreSQL (docs/master-data.md): the same new
run sent twice at once by two connections is written once, and neither call fails."""

import threading

import pytest
from django.db import connection

from execution.master_data import import_bundle
from execution.models import Run, Unit
from integration.master_data_calls import put_run
from integration.models import IntegrationMessage
from tests.master_data_bundle import example_bundle
from tests.postgres import needs_postgresql

pytestmark = [
    # Serialized rollback: the groups and content types the migrations made come back after.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.postgres_only,
    needs_postgresql("two connections writing the same run at once"),
]


def test_the_same_new_run_sent_twice_at_once_is_written_once():
    bundle = example_bundle()
    run = bundle.pop("runs")[0] | {"runNo": "RUN-RACE"}
    import_bundle(bundle)
    start = threading.Barrier(2)
    answers, errors = [], []

    def send():
        try:
            start.wait()
            answers.append(put_run(run, run_no="RUN-RACE", sent_by=None).answer["action"])
        except Exception as error:  # noqa: BLE001 - the test reports any failure
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    assert sorted(answers) in (["created", "unchanged"], ["created", "updated"])
    assert Run.objects.filter(run_no="RUN-RACE").count() == 1
    assert Unit.objects.filter(run__run_no="RUN-RACE").count() == 200
    assert IntegrationMessage.objects.filter(status="SUCCESS", entity_type="RUN").count() == 2
