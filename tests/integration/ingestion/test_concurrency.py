"""Many gateways retrying one eventId at the same moment: one record, the rest duplicates.

Needs PostgreSQL: each thread has its own database connection and the unique
constraint on event_id decides the race. SQLite serialises writers with its
database lock, so there is no race to test there.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from rest_framework.test import APIClient

from execution.models import DataValue
from integration.models import DeviceDataRecord, IntegrationMessage
from tests.conftest import make_event, requires_postgresql
from tests.factories import gateway_with_key

CONCURRENT_REQUESTS = 24


def post_concurrently(payloads, keys):
    """POST each payload from its own thread, all at once, with the gateway keys in
    turn; returns (status, body) in payload order."""
    keys = [keys] if isinstance(keys, str) else keys
    barrier = threading.Barrier(len(payloads))

    def post(index):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {keys[index % len(keys)]}")
        try:
            barrier.wait(timeout=30)
            response = client.post("/api/integration/device-data", payloads[index], format="json")
            return response.status_code, response.json()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(payloads)) as pool:
        return list(pool.map(post, range(len(payloads))))


@requires_postgresql
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_posts_of_one_event_write_it_exactly_once(line):
    _, key = gateway_with_key("gw-race")
    event = make_event(
        eventId="evt-race",
        data=[
            {"specName": "Peak Temperature", "valueNumber": 245},
            {"specName": "Conveyor Speed", "valueNumber": 80},
        ],
    )

    results = post_concurrently([event] * CONCURRENT_REQUESTS, key)

    statuses = [status for status, _ in results]
    assert statuses == [200] * CONCURRENT_REQUESTS
    answers = [body["data"] for _, body in results]
    assert sum(not answer["isDuplicate"] for answer in answers) == 1
    assert len({answer["id"] for answer in answers}) == 1
    # Every duplicate carries the original's values.
    assert all(len(answer["values"]) == 2 for answer in answers)
    record = DeviceDataRecord.objects.get()
    assert record.duplicate_count == CONCURRENT_REQUESTS - 1
    assert DataValue.objects.count() == 2
    statuses_written = list(IntegrationMessage.objects.values_list("status", flat=True))
    assert statuses_written.count("SUCCESS") == 1
    assert statuses_written.count("DUPLICATE") == CONCURRENT_REQUESTS - 1


@requires_postgresql
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_posts_of_one_eventid_with_different_payloads_leave_one_record(line):
    _, key = gateway_with_key("gw-race-2")
    payloads = [
        make_event(
            eventId="evt-race-2",
            data=[{"specName": "Peak Temperature", "valueNumber": 240 + (n % 2)}],
        )
        for n in range(CONCURRENT_REQUESTS)
    ]

    results = post_concurrently(payloads, key)

    assert all(status in (200, 409) for status, _ in results)
    record = DeviceDataRecord.objects.get()
    winner_value = DataValue.objects.get().value_number
    same = sum(1 for p in payloads if p["data"][0]["valueNumber"] == winner_value)
    # The winner's twins are duplicates; the others conflicts.
    assert sum(status == 200 for status, _ in results) == same
    assert sum(status == 409 for status, _ in results) == CONCURRENT_REQUESTS - same
    assert record.duplicate_count == same - 1
    assert (
        IntegrationMessage.objects.filter(status="CONFLICT").count() == CONCURRENT_REQUESTS - same
    )
