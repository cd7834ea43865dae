"""The commands people run: the gateway simulator against a live server."""

from io import StringIO

import pytest
from django.core.management import call_command

from execution.demo import seed_demo_line
from integration.models import DeviceDataRecord, IntegrationMessage


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_simulator_posts_new_events_duplicates_a_conflict_and_a_failure_over_http(live_server):
    seed_demo_line()
    out = StringIO()

    call_command("simulate_gateway", url=live_server.url, count=12, rate=0, seed=7, stdout=out)

    summary = out.getvalue()
    assert "created (200)                12" in summary
    assert "duplicate (200)              1" in summary
    assert "EVENT_ID_CONFLICT (409)      1" in summary
    assert "UNIT_NOT_FOUND (422)         1" in summary
    assert DeviceDataRecord.objects.count() == 12
    statuses = list(IntegrationMessage.objects.values_list("status", flat=True))
    assert sorted(set(statuses)) == ["CONFLICT", "DUPLICATE", "FAILED", "SUCCESS"]
    assert statuses.count("SUCCESS") == 12
    # Every record was sent by the simulator's own gateway account.
    assert set(DeviceDataRecord.objects.values_list("sent_by__username", flat=True)) == {
        "gw-simulator"
    }
