"""A migration changes a column's type while traffic flows: no request answers an error.

Statements prepared on a pooled connection before the change are refused by
PostgreSQL afterwards (mes/prepared_statements.py). Each test makes its
statements prepared on this thread's connection, changes the column's type
from a second session, then sends the same requests again.
"""

import pytest
from django.conf import settings

from integration.models import DeviceDataRecord
from tests.conftest import make_event
from tests.postgres import needs_postgresql, second_session

pytestmark = [
    needs_postgresql("prepared statements, and a column type changed by a second session"),
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

URL = "/api/integration/device-data"
PREPARED_AFTER = 5  # settings: prepare_threshold


@pytest.fixture
def longer_equipment_id():
    """Changes `equipment_id`'s type as a migration would, then puts it back."""

    def alter(length: int):
        with second_session() as session:
            session.execute(
                "ALTER TABLE integration_devicedatarecord "
                f"ALTER COLUMN equipment_id TYPE varchar({length})"
            )

    yield lambda: alter(150)
    alter(100)


def test_statements_are_prepared_in_these_tests():
    options = settings.DATABASES["default"]["OPTIONS"]
    assert options.get("server_side_binding") and options.get("prepare_threshold")


def test_posts_after_a_column_type_change_are_written(line, gateway_client, longer_equipment_id):
    for n in range(PREPARED_AFTER + 2):
        assert (
            gateway_client.post(
                URL, make_event(eventId=f"evt-before-{n}"), format="json"
            ).status_code
            == 200
        )
    gateway_client.post(URL, make_event(eventId="evt-before-0"), format="json")  # a duplicate too

    longer_equipment_id()
    answers = [
        gateway_client.post(URL, make_event(eventId=event_id), format="json")
        for event_id in ("evt-after-1", "evt-before-1", "evt-after-2")
    ]

    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert [answer.json()["data"]["isDuplicate"] for answer in answers] == [False, True, False]
    assert DeviceDataRecord.objects.count() == PREPARED_AFTER + 4
    assert DeviceDataRecord.objects.get(event_id="evt-before-1").duplicate_count == 1


def test_a_batch_of_one_event_after_a_column_type_change_is_written(
    line, gateway_client, longer_equipment_id
):
    # Not grouped, so no group's failure makes it try alone: its own retry does.
    def batch(event_id):
        body = {"events": [make_event(eventId=event_id)]}
        return gateway_client.post(f"{URL}/batch", body, format="json")

    for n in range(PREPARED_AFTER + 2):
        assert batch(f"evt-before-{n}").status_code == 200

    longer_equipment_id()
    answer = batch("evt-after")

    assert answer.status_code == 200
    assert answer.json()["data"]["results"][0]["status"] == "CREATED"
    assert DeviceDataRecord.objects.filter(event_id="evt-after").exists()


def test_reads_after_a_column_type_change_answer(
    line, gateway_client, quality_client, longer_equipment_id
):
    gateway_client.post(URL, make_event(), format="json")
    for _ in range(PREPARED_AFTER + 2):
        assert quality_client.get(URL, {"stationCode": "REFLOW-01"}).status_code == 200

    longer_equipment_id()
    answer = quality_client.get(URL, {"stationCode": "REFLOW-01"})

    assert answer.status_code == 200, answer.content[:500]
    assert answer.json()["data"]["items"][0]["equipmentId"] == "EQ-01"


@pytest.fixture
def wider_step_no():
    """Widens the records' `step_no` from integer to bigint as a migration would (the
    running code's model still says integer), then puts it back."""
    from mes import db

    def alter(column_type: str):
        with second_session() as session:
            session.execute(
                f"ALTER TABLE integration_devicedatarecord ALTER COLUMN step_no TYPE {column_type}"
            )

    yield lambda: alter("bigint")
    alter("integer")
    db.TEXT_COPY_MODELS.clear()


def test_batches_copied_after_a_column_is_widened_are_written(
    line, gateway_client, wider_step_no, monkeypatch
):
    from integration.ingestion import retries

    transactions = []
    real = retries.receive_together

    def counted(attempts, *args):
        transactions.append(len(attempts))
        return real(attempts, *args)

    monkeypatch.setattr(retries, "receive_together", counted)  # a count, not a fake

    def batch(prefix):  # 40 records: written with COPY
        body = {"events": [make_event(eventId=f"{prefix}-{n}") for n in range(40)]}
        return gateway_client.post(f"{URL}/batch", body, format="json")

    assert batch("evt-before").json()["data"]["summary"]["created"] == 40
    wider_step_no()
    first, second = batch("evt-after-1"), batch("evt-after-2")

    assert first.json()["data"]["summary"]["created"] == 40
    assert second.json()["data"]["summary"]["created"] == 40
    # The binary COPY the server refused once is not tried again: the second batch is
    # one transaction, as the first was before the change.
    assert transactions[0] == 40 and transactions[-1] == 40
    assert len(transactions) <= 1 + 1 + 40 + 1


def group_batch(client, prefix: str, rows: int):
    body = {"events": [make_event(eventId=f"{prefix}-{n}") for n in range(rows)]}
    return client.post(f"{URL}/batch", body, format="json")


@pytest.mark.parametrize("rows", [5, 12])
def test_group_inserts_after_a_column_is_widened_are_written(
    line, gateway_client, wider_step_no, rows
):
    # 2-31 rows are inserted as one array per column (mes/db.py _unnest_rows), prepared
    # after PREPARED_AFTER uses and typed as the running code's model says (integer)
    # while the column is bigint from the change on.
    for n in range(PREPARED_AFTER + 2):
        assert group_batch(gateway_client, f"grp-before-{n}", rows).status_code == 200
    wider_step_no()
    answers = [group_batch(gateway_client, f"grp-after-{n}", rows) for n in range(2)]

    assert [a.json()["data"]["summary"]["created"] for a in answers] == [rows, rows]
    assert DeviceDataRecord.objects.filter(event_id__startswith="grp-after").count() == 2 * rows


def test_group_inserts_after_a_text_column_is_lengthened_are_written(
    line, gateway_client, longer_equipment_id
):
    for n in range(PREPARED_AFTER + 2):
        assert group_batch(gateway_client, f"grp-before-{n}", 4).status_code == 200
    longer_equipment_id()
    answers = [group_batch(gateway_client, f"grp-after-{n}", 4) for n in range(2)]

    assert [a.json()["data"]["summary"]["created"] for a in answers] == [4, 4]
    assert DeviceDataRecord.objects.filter(event_id__startswith="grp-after").count() == 8
