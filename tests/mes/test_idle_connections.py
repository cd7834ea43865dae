"""A connection the server ended between two requests is replaced before the next one,
without a health check's round trip (mes/idle_connections.py).

The server ends this thread's session with `pg_terminate_backend` (as a restart does) and
waits until it is gone; then the next request reads, writes or opens a back-office page
on a new connection. Real gunicorn workers between requests:
tests/deploy/test_connection_lost_between_requests.py.
"""

import pytest
from django.conf import settings
from django.db import connection

from integration.models import DeviceDataRecord
from tests.conftest import make_event
from tests.postgres import needs_postgresql, second_session

URL = "/api/integration/device-data"


def test_no_health_check_runs_before_each_request_by_default():
    assert settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] is False


def session_ended_by_the_server(test):
    """PostgreSQL, and autocommit between requests as under gunicorn."""
    test = needs_postgresql("a session ended by the server (pg_terminate_backend)")(test)
    return pytest.mark.django_db(transaction=True, serialized_rollback=True)(test)


def end_this_session() -> int:
    """End this thread's database session from another, once it is gone; its pid."""
    pid = connection.connection.info.backend_pid
    with second_session() as session:
        (ended,) = session.execute("SELECT pg_terminate_backend(%s, 5000)", [pid]).fetchone()
    assert ended is True
    return pid


@session_ended_by_the_server
def test_a_read_after_the_server_ended_the_session_answers_on_a_new_connection(
    line, quality_client
):
    assert quality_client.get(URL).status_code == 200
    ended = end_this_session()

    response = quality_client.get(URL)

    assert response.status_code == 200, response.content[:500]
    assert connection.connection.info.backend_pid != ended


@session_ended_by_the_server
def test_a_post_after_the_server_ended_the_session_is_written_on_a_new_connection(
    line, gateway_client
):
    assert gateway_client.post(URL, make_event(eventId="evt-1"), format="json").status_code == 200
    ended = end_this_session()

    response = gateway_client.post(URL, make_event(eventId="evt-2"), format="json")

    assert response.status_code == 200, response.content[:500]
    assert connection.connection.info.backend_pid != ended
    assert sorted(DeviceDataRecord.objects.values_list("event_id", flat=True)) == [
        "evt-1",
        "evt-2",
    ]


@session_ended_by_the_server
def test_a_back_office_page_after_the_server_ended_the_session_opens(integration_admin_client):
    assert integration_admin_client.get("/admin/").status_code == 200
    ended = end_this_session()

    response = integration_admin_client.get("/admin/")

    assert response.status_code == 200
    assert connection.connection.info.backend_pid != ended
