"""A track-out the service fails on, not the database: a bug, or master data the rules
cannot use (here limits stored as text by an SQL data fix, past the model's checks, so
that judging raises TypeError). As device data does (integration/ingestion/retries.py):
answered 500 INTERNAL_ERROR, nothing of the call written, logged with its traceback, and
kept as a FAILED message to replay once the cause is fixed (docs/execution.md)."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils.html import strip_tags

from execution.models import DataSpec, Track
from integration.models import IntegrationMessage
from integration.tracking.service import replay_tracking_message
from tests.factories import UserFactory
from tests.integration.api.stations_api import accepted, track_in, track_out, written

pytestmark = pytest.mark.django_db

SN = "SN-UNEXPECTED-1"
RUN = "RUN-TRACK-001"
PASTE = [{"specName": "Paste Height", "valueNumber": 120}]


@pytest.fixture
def unjudgeable_paste_height(route_line):
    DataSpec.objects.filter(pk=route_line.paste_height.pk).update(spec={"min": "100"})
    return route_line.paste_height


def test_a_track_out_the_service_fails_on_is_a_500_kept_failed_and_nothing_written(
    route_line, operator, unjudgeable_paste_height, caplog
):
    accepted(track_in(operator, "SPI-01", SN, RUN))
    before = written()

    response = track_out(operator, "SPI-01", SN, RUN, eventId="to-poison", data=PASTE)

    assert response.status_code == 500, response.content
    body = response.json()
    assert body["ok"] is False
    error = body["error"]
    assert error["code"] == "INTERNAL_ERROR" and "replay it" in error["message"]
    assert "TypeError" in caplog.text  # logged with its traceback
    kept = IntegrationMessage.objects.get(pk=error["details"]["messageId"])
    assert (kept.status, kept.error_code, kept.entity_type) == (
        "FAILED",
        "INTERNAL_ERROR",
        "TRACK_OUT",
    )
    assert kept.business_key == "track-out:to-poison"
    # Nothing but the kept message: the pass still open, no value, no record.
    tracks, still_open, values, records, messages = written()
    assert (tracks, still_open, values, records) == before[:4]
    assert messages == before[4] + 1


def test_a_kept_unexpected_failure_is_replayed_once_the_limits_are_fixed(
    route_line, operator, unjudgeable_paste_height
):
    accepted(track_in(operator, "SPI-01", SN, RUN))
    response = track_out(operator, "SPI-01", SN, RUN, eventId="to-poison", data=PASTE)
    kept = IntegrationMessage.objects.get(pk=response.json()["error"]["details"]["messageId"])

    DataSpec.objects.filter(pk=unjudgeable_paste_height.pk).update(spec={"min": 100, "max": 150})
    outcome = replay_tracking_message(kept, replayed_by=UserFactory(username="quality-1"))

    assert outcome.answer["result"] == "PASS" and not outcome.is_duplicate
    assert Track.objects.get(unit__sn=SN).out_at is not None
    kept.refresh_from_db()
    assert kept.resolved_at is not None


def test_a_re_send_of_a_written_call_that_fails_unexpectedly_is_not_kept_as_a_new_failure(
    route_line, operator
):
    accepted(track_in(operator, "SPI-01", SN, RUN))
    accepted(track_out(operator, "SPI-01", SN, RUN, eventId="to-once", data=PASTE))
    DataSpec.objects.filter(pk=route_line.paste_height.pk).update(spec={"min": "100"})
    messages = IntegrationMessage.objects.count()

    # The re-send answers its first answer: it judges nothing, so it cannot fail.
    again = accepted(track_out(operator, "SPI-01", SN, RUN, eventId="to-once", data=PASTE))

    assert again["isDuplicate"] is True
    assert IntegrationMessage.objects.count() == messages + 1
    assert not IntegrationMessage.objects.filter(status="FAILED").exists()


def test_the_back_office_replay_of_a_call_that_fails_again_says_so_and_keeps_the_new_failure(
    route_line, operator, unjudgeable_paste_height, integration
):
    accepted(track_in(operator, "SPI-01", SN, RUN))
    response = track_out(operator, "SPI-01", SN, RUN, eventId="to-poison", data=PASTE)
    kept = IntegrationMessage.objects.get(pk=response.json()["error"]["details"]["messageId"])

    replayed = integration.post(
        reverse("admin:integration_integrationmessage_replay", args=[kept.pk]), follow=True
    )

    assert replayed.status_code == 200
    texts = [strip_tags(str(m)) for m in get_messages(replayed.wsgi_request)]
    again = IntegrationMessage.objects.get(replay_of=kept)
    assert (again.status, again.error_code) == ("FAILED", "INTERNAL_ERROR")
    assert any("failed unexpectedly again" in text and str(again.pk) in text for text in texts), (
        texts
    )
    assert Track.objects.get(unit__sn=SN).out_at is None
