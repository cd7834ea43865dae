"""The back office's replay of a FAILED track-in or track-out message (docs/back-office.md):
the Replay button and the list action send it through the stations' own service
(integration.tracking.service.replay_tracking_message), never ingestion's; and the message
list finds tracking messages by entity type, unit and eventId."""

import re

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils.html import strip_tags

from execution.models import DataValue, Run, Track, Unit
from execution.unit_links import unit_by_sn_url
from integration.models import IntegrationMessage
from integration.tracking.errors import TrackingCallRefused, TrackingIdConflict
from integration.tracking.service import receive_track_in, receive_track_out
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LIST_URL = reverse("admin:integration_integrationmessage_changelist")
RUN = "RUN-TRACK-001"
SN = "SN-RPL-0001"


def change_url(message):
    return reverse("admin:integration_integrationmessage_change", args=[message.pk])


def replay_url(message):
    return reverse("admin:integration_integrationmessage_replay", args=[message.pk])


def reported(response) -> list[tuple[str, str]]:
    return [(m.level_tag, strip_tags(str(m))) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def station_operator(db):
    return UserFactory(username="op-7", groups=["Operators"])


def _refused(receive, body, station, operator) -> IntegrationMessage:
    with pytest.raises(TrackingCallRefused) as refusal:
        receive(body, station_code=station, sent_by=operator)
    return refusal.value.failed_message


def _track_in(station, sn, operator, **fields):
    return receive_track_in(
        {"sn": sn, "runNo": RUN, **fields}, station_code=station, sent_by=operator
    )


def _authorize(line):
    Run.objects.filter(pk=line.run.pk).update(status=Run.Status.AUTHORIZED)


@pytest.fixture
def early_track_in(route_line, station_operator):
    """A track-in (eventId ti-early) refused while the run was still in preparation."""
    Run.objects.filter(pk=route_line.run.pk).update(status=Run.Status.PREP)
    body = {"sn": SN, "runNo": RUN, "eventId": "ti-early"}
    return _refused(receive_track_in, body, "SPI-01", station_operator)


def test_a_failed_track_in_page_offers_replay(early_track_in, integration):
    page = integration.get(change_url(early_track_in)).content.decode()

    assert 'id="message-replay"' in page
    assert "RUN_NOT_AUTHORIZED" in page


def test_replaying_a_track_in_once_its_cause_is_fixed_tracks_the_unit_in(
    early_track_in, integration, route_line
):
    _authorize(route_line)

    response = integration.post(replay_url(early_track_in))

    attempt = IntegrationMessage.objects.get(replay_of=early_track_in)
    assert (attempt.status, attempt.entity_type, attempt.business_key) == (
        "SUCCESS",
        "TRACK_IN",
        "track-in:ti-early",
    )
    assert attempt.sent_by.username == "integration-admin"
    assert response.status_code == 302 and response["Location"] == change_url(attempt)
    [(level, text)] = reported(integration.get(response["Location"]))
    assert level == "success"
    assert f"unit {SN} tracked in at SPI-01, step 10" in text and "resolved" in text
    early_track_in.refresh_from_db()
    assert early_track_in.resolved_at is not None
    track = Track.objects.get(unit__sn=SN)
    assert (track.source, track.out_at) == ("MANUAL", None)
    assert Unit.objects.get(sn=SN).status == Unit.Status.IN_STATION


def test_a_track_in_replay_refused_again_reports_the_code_and_keeps_the_attempt(
    early_track_in, integration
):
    response = integration.post(replay_url(early_track_in), follow=True)

    attempt = IntegrationMessage.objects.get(replay_of=early_track_in)
    assert (attempt.status, attempt.error_code) == ("FAILED", "RUN_NOT_AUTHORIZED")
    assert response.redirect_chain[-1][0] == change_url(attempt)
    [(level, text)] = reported(response)
    assert level == "error" and "refused again" in text and "RUN_NOT_AUTHORIZED" in text
    assert not Track.objects.exists()


def test_a_replay_of_a_call_the_station_sent_again_meanwhile_is_its_duplicate(
    early_track_in, integration, route_line, station_operator
):
    _authorize(route_line)
    _track_in("SPI-01", SN, station_operator, eventId="ti-early")  # the station's own re-send

    response = integration.post(replay_url(early_track_in), follow=True)

    attempt = IntegrationMessage.objects.get(replay_of=early_track_in)
    assert attempt.status == "DUPLICATE"
    [(level, text)] = reported(response)
    assert level == "info" and "already written" in text
    assert Track.objects.count() == 1


def test_a_replay_of_an_id_taken_since_by_another_call_is_a_conflict(
    early_track_in, integration, route_line, station_operator
):
    _authorize(route_line)
    _track_in("SPI-01", "SN-RPL-OTHER", station_operator, eventId="ti-early")

    response = integration.post(replay_url(early_track_in), follow=True)

    attempt = IntegrationMessage.objects.get(replay_of=early_track_in)
    assert (attempt.status, attempt.error_code) == ("CONFLICT", "EVENT_ID_CONFLICT")
    [(level, text)] = reported(response)
    assert level == "error" and "another call" in text
    assert not Unit.objects.filter(sn=SN).exists()


def test_replaying_a_track_out_writes_its_values_as_the_station_sent_them(
    route_line, integration, station_operator
):
    """The body's own `source` field (which the call ignores) never makes the replay an
    AUTO call: a REST track-out is MANUAL, and its manual spec takes the value."""
    body = {
        "sn": SN,
        "runNo": RUN,
        "result": "PASS",
        "eventId": "to-early",
        "source": "AUTO",
        "data": [{"specName": "Visual Check", "valueBoolean": True}],
    }
    failed = _refused(receive_track_out, body, "INSPECT-01", station_operator)
    assert failed.error_code == "UNIT_NOT_FOUND"
    for station, step in (("SPI-01", "1"), ("OVEN-01", "2")):
        _track_in(station, SN, station_operator)
        out = {"sn": SN, "runNo": RUN, "result": "PASS", "eventId": f"to-{step}"}
        receive_track_out(out, station_code=station, sent_by=station_operator)
    _track_in("INSPECT-01", SN, station_operator)

    response = integration.post(replay_url(failed), follow=True)

    attempt = IntegrationMessage.objects.get(replay_of=failed)
    assert attempt.status == "SUCCESS", attempt.error_message
    [(level, text)] = reported(response)
    assert level == "success" and f"unit {SN} tracked out of INSPECT-01, step 30: PASS" in text
    value = DataValue.objects.get(source_ref="track-out:to-early")
    assert (value.source, value.spec, value.judge) == ("MANUAL", route_line.visual, "PASS")
    assert Unit.objects.get(sn=SN).status == Unit.Status.DONE


def test_a_replayed_call_without_an_id_resolves_the_call_it_sends_again(
    route_line, integration, station_operator
):
    Run.objects.filter(pk=route_line.run.pk).update(status=Run.Status.PREP)
    failed = _refused(receive_track_in, {"sn": SN, "runNo": RUN}, "SPI-01", station_operator)
    _authorize(route_line)

    integration.post(replay_url(failed))

    attempt = IntegrationMessage.objects.get(replay_of=failed)
    assert attempt.status == "SUCCESS"
    # The two attempts are one call: the same key ties them, and the first is resolved.
    assert attempt.business_key == failed.business_key
    failed.refresh_from_db()
    assert failed.resolved_at is not None


def test_the_list_action_replays_device_data_and_tracking_each_through_its_service(
    early_track_in, integration, route_line, traffic, line
):
    _authorize(route_line)
    selected = [traffic.failed, early_track_in]

    response = integration.post(
        LIST_URL,
        {"action": "replay_selected", "_selected_action": [m.pk for m in selected]},
        follow=True,
    )

    texts = [text for _level, text in reported(response)]
    assert len(texts) == 2
    device_replay = IntegrationMessage.objects.get(replay_of=traffic.failed)
    tracking_replay = IntegrationMessage.objects.get(replay_of=early_track_in)
    assert (device_replay.entity_type, device_replay.error_code) == (
        "DEVICE_DATA",
        "UNIT_NOT_FOUND",
    )
    assert (tracking_replay.entity_type, tracking_replay.status) == ("TRACK_IN", "SUCCESS")
    # In the order they were received: the track-in first.
    assert "tracked in at SPI-01" in texts[0] and "refused again: UNIT_NOT_FOUND" in texts[1]


def test_quality_staff_cannot_replay_a_tracking_message(early_track_in, quality, route_line):
    _authorize(route_line)

    response = quality.post(replay_url(early_track_in))

    assert response.status_code == 403
    assert not IntegrationMessage.objects.filter(replay_of=early_track_in).exists()
    assert not Track.objects.exists()


# --- finding tracking messages in the list ---


def _listed(client, query) -> list[int]:
    response = client.get(LIST_URL + query)
    assert response.status_code == 200
    return sorted(message.pk for message in response.context["cl"].result_list)


def test_the_list_filters_messages_by_entity_type(early_track_in, quality, traffic):
    tracking = _listed(quality, "?entity_type__exact=TRACK_IN")
    device = _listed(quality, "?entity_type__exact=DEVICE_DATA")

    assert tracking == [early_track_in.pk]
    assert len(device) == 5 and early_track_in.pk not in device
    assert _listed(quality, "?entity_type__exact=TRACK_OUT") == []
    page = quality.get(LIST_URL).content.decode()
    assert "Track in" in page and "Track out" in page  # the filter's choices


def test_the_list_finds_a_tracking_message_by_its_event_id(early_track_in, quality):
    assert _listed(quality, "?q=ti-early") == [early_track_in.pk]
    assert _listed(quality, "?q=track-in:ti-early") == [early_track_in.pk]


def test_a_tracking_message_links_to_its_units_page(early_track_in, quality):
    page = quality.get(LIST_URL + "?entity_type__exact=TRACK_IN").content.decode()

    assert f'href="{unit_by_sn_url(SN)}">{SN}</a>' in page


def test_the_api_filters_messages_by_entity_type(early_track_in, quality_client, traffic):
    answer = quality_client.get("/api/integration/messages?entityType=TRACK_IN")

    assert answer.status_code == 200, answer.content
    items = answer.json()["data"]["items"]
    assert [(item["id"], item["entityType"], item["system"]) for item in items] == [
        (str(early_track_in.pk), "TRACK_IN", "STATION")
    ]
    assert items[0]["businessKey"] == "track-in:ti-early"
    bad = quality_client.get("/api/integration/messages?entityType=TRACKING")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "VALIDATION_ERROR"


def test_every_kind_of_tracking_message_has_a_page(route_line, quality, station_operator):
    body = {"sn": SN, "runNo": RUN, "eventId": "ti-1"}
    _track_in("SPI-01", SN, station_operator, eventId="ti-1")
    receive_track_in(body, station_code="SPI-01", sent_by=station_operator)  # a duplicate
    with pytest.raises(TrackingIdConflict):
        receive_track_in(
            {**body, "sn": "SN-OTHER"}, station_code="SPI-01", sent_by=station_operator
        )
    statuses = set()

    for message in IntegrationMessage.objects.all():
        page = quality.get(change_url(message))
        assert page.status_code == 200, message
        assert "track-in:ti-1" in page.content.decode()
        statuses.add(message.status)

    assert statuses == {"SUCCESS", "DUPLICATE", "CONFLICT"}


# --- a tracking conflict, side by side ---


def test_a_tracking_conflict_shows_the_call_that_took_its_id_beside_it_with_the_differing_field(
    route_line, station_operator, quality
):
    _authorize(route_line)
    _track_in("SPI-01", SN, station_operator, eventId="ti-twice")
    with pytest.raises(TrackingIdConflict):
        _track_in("SPI-01", "SN-RPL-OTHER", station_operator, eventId="ti-twice")
    first = IntegrationMessage.objects.get(business_key="track-in:ti-twice", status="SUCCESS")
    conflict = IntegrationMessage.objects.get(business_key="track-in:ti-twice", status="CONFLICT")

    page = quality.get(change_url(conflict)).content.decode()

    assert 'id="conflict-diff"' in page and 'id="conflict-payloads"' in page
    changed = re.findall(r'<tr class="mes-diff-changed">.*?</tr>', page, re.DOTALL)
    assert len(changed) == 1, changed
    assert ">sn<" in changed[0] and SN in changed[0] and "SN-RPL-OTHER" in changed[0]
    assert f'href="{change_url(first)}"' in page  # the original, linked
