"""The message review and the replay action (issue 4: IntegrationMessage, Replay).

Messages come from the real ingestion service (`receive_traffic`); replays go
through the admin's action, which calls `replay_failed_message`.
"""

import re
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone
from django.utils.html import strip_tags

from execution.models import DataValue
from integration.models import DeviceDataRecord, IntegrationMessage
from tests.factories import TrackFactory, UnitFactory, person_in_role
from tests.postgres import needs_postgresql, row_locked

LIST_URL = reverse("admin:integration_integrationmessage_changelist")


def change_url(message):
    return reverse("admin:integration_integrationmessage_change", args=[message.pk])


def listed(client, query="") -> list[int]:
    response = client.get(LIST_URL + query)
    assert response.status_code == 200
    assert "e=1" not in response.get("Location", "")
    return [message.pk for message in response.context["cl"].result_list]


def replay(client, *messages):
    return client.post(
        LIST_URL,
        {"action": "replay_selected", "_selected_action": [m.pk for m in messages]},
        follow=True,
    )


def reported(response) -> list[tuple[str, str]]:
    return [(m.level_tag, strip_tags(str(m))) for m in get_messages(response.wsgi_request)]


def create_late_unit(line):
    unit = UnitFactory(sn="SN-LATE", run=line.run)
    return TrackFactory(unit=unit, step_no=40, station=line.station)


# --- the list -------------------------------------------------------------------------------


def test_the_list_shows_each_status_as_a_coloured_badge_with_client_and_error(quality, traffic):
    page = quality.get(LIST_URL).content.decode()
    for status in ("SUCCESS", "DUPLICATE", "CONFLICT", "FAILED"):
        assert f'mes-badge mes-badge-{status}">{status}<' in page
    assert "UNIT_NOT_FOUND" in page and "EVENT_ID_CONFLICT" in page
    assert "gw-reflow-1" in page


def test_filter_by_status_lists_only_that_status(quality, traffic):
    assert listed(quality, "?status__exact=CONFLICT") == [traffic.conflict.pk]


def test_unresolved_filter_lists_failed_messages_not_yet_resolved(quality, traffic, line):
    assert listed(quality, "?resolved=no") == [traffic.failed.pk]
    assert listed(quality, "?resolved=yes") == []

    create_late_unit(line)
    replay_client = quality.__class__()
    replay_client.force_login(person_in_role("integration admin"))
    replay(replay_client, traffic.failed)

    assert listed(quality, "?resolved=no") == []
    assert listed(quality, "?resolved=yes") == [traffic.failed.pk]


def test_created_date_range_filter_includes_both_ends(quality, traffic):
    everything = listed(quality)
    today = timezone.now().date()
    yesterday, tomorrow = today - timedelta(days=1), today + timedelta(days=1)

    assert listed(quality, f"?createdFrom={today}&createdTo={today}") == everything
    assert listed(quality, f"?createdFrom={tomorrow}") == []
    assert listed(quality, f"?createdTo={yesterday}") == []
    first = IntegrationMessage.objects.order_by("created_at").first()
    exact = first.created_at.isoformat().replace("+", "%2B")
    assert first.pk in listed(quality, f"?createdTo={exact}")


def test_an_unparsable_date_shows_an_error_instead_of_everything(quality, traffic):
    response = quality.get(LIST_URL + "?createdFrom=last-tuesday")
    assert response.status_code == 200
    assert [str(m) for m in get_messages(response.wsgi_request)][0].startswith(
        "The filter “created (createdFrom)” could not read “last-tuesday”"
    )
    assert len(response.context["cl"].result_list) == 0


def test_search_finds_the_messages_of_an_event_id(quality, traffic):
    assert listed(quality, "?q=evt-late-unit") == [traffic.failed.pk]
    assert sorted(listed(quality, "?q=device-data:evt-0001")) == sorted(
        [traffic.success.pk, traffic.duplicate.pk, traffic.conflict.pk]
    )


def test_business_key_filter_matches_exactly(quality, traffic):
    assert listed(quality, "?businessKey=device-data:evt-hot") == [
        IntegrationMessage.objects.get(business_key="device-data:evt-hot").pk
    ]
    assert listed(quality, "?businessKey=device-data:evt") == []


# --- the detail --------------------------------------------------------------------------------


def test_detail_shows_the_payload_as_indented_json(quality, traffic):
    page = quality.get(change_url(traffic.failed)).content.decode()
    assert '<pre class="mes-json">' in page
    assert "\n  &quot;unitSn&quot;: &quot;SN-LATE&quot;\n}</pre>" in page


def test_a_duplicate_links_to_its_record_and_to_the_original_message(quality, traffic):
    page = quality.get(change_url(traffic.duplicate)).content.decode()
    record_url = reverse("admin:integration_devicedatarecord_change", args=[traffic.record.pk])
    assert f'href="{record_url}"' in page
    assert f'href="{change_url(traffic.success)}"' in page


def test_a_conflict_shows_stored_and_incoming_payload_with_the_differing_field_marked(
    quality, traffic
):
    response = quality.get(change_url(traffic.conflict))
    page = response.content.decode()

    assert 'id="conflict-diff"' in page and 'id="conflict-payloads"' in page
    changed = re.findall(r'<tr class="mes-diff-changed">.*?</tr>', page)
    assert len(changed) == 1
    assert "data[0].valueNumber" in changed[0]
    assert "<td>245</td>" in changed[0] and "<td>246</td>" in changed[0]
    # Both payloads in full, side by side.
    assert page.count("&quot;valueNumber&quot;: 245") >= 1
    assert page.count("&quot;valueNumber&quot;: 246") >= 2  # the comparison and the payload
    assert f'href="{change_url(traffic.success)}"' in page


def test_a_failed_message_links_to_its_replays_and_a_replay_back_to_it(integration, traffic, line):
    create_late_unit(line)
    replay(integration, traffic.failed)
    retry = IntegrationMessage.objects.get(replay_of=traffic.failed)

    failed_page = integration.get(change_url(traffic.failed)).content.decode()
    retry_page = integration.get(change_url(retry)).content.decode()

    assert f'href="{change_url(retry)}"' in failed_page
    assert f'href="{change_url(traffic.failed)}"' in retry_page


# --- replay ------------------------------------------------------------------------------------


def test_replay_after_the_unit_is_created_writes_the_event_and_resolves_the_message(
    integration, traffic, line
):
    track = create_late_unit(line)

    response = replay(integration, traffic.failed)

    assert response.status_code == 200
    record = DeviceDataRecord.objects.get(event_id="evt-late-unit")
    assert record.track == track
    assert record.sent_by.username == "gw-reflow-1"  # the original gateway
    retry = IntegrationMessage.objects.get(replay_of=traffic.failed)
    assert retry.status == "SUCCESS" and retry.sent_by.username == "integration-admin"
    traffic.failed.refresh_from_db()
    assert traffic.failed.resolved_at is not None
    assert DataValue.objects.filter(track=track).count() == 1
    [(level, text)] = reported(response)
    assert level == "success"
    assert f"record {record.pk} (evt-late-unit) written with 1 value(s)" in text


def test_replay_that_is_refused_again_reports_the_error_and_keeps_the_new_attempt(
    integration, traffic
):
    response = replay(integration, traffic.failed)

    retry = IntegrationMessage.objects.get(replay_of=traffic.failed)
    assert retry.status == "FAILED" and retry.error_code == "UNIT_NOT_FOUND"
    traffic.failed.refresh_from_db()
    assert traffic.failed.resolved_at is None
    [(level, text)] = reported(response)
    assert level == "error"
    assert "refused again: UNIT_NOT_FOUND" in text and f"#{retry.pk}" in text


def test_replay_of_a_message_that_is_not_failed_is_refused_without_writing(integration, traffic):
    before = IntegrationMessage.objects.count()

    response = replay(integration, traffic.conflict, traffic.success)

    assert IntegrationMessage.objects.count() == before
    levels_and_texts = reported(response)
    assert [level for level, _ in levels_and_texts] == ["warning", "warning"]
    assert "is SUCCESS, not FAILED: not replayed" in levels_and_texts[0][1]
    assert "is CONFLICT, not FAILED: not replayed" in levels_and_texts[1][1]


def test_each_selected_message_gets_its_own_outcome(integration, traffic, line):
    create_late_unit(line)

    response = replay(integration, traffic.failed, traffic.success)

    assert sorted(level for level, _ in reported(response)) == ["success", "warning"]


def test_replaying_a_message_whose_event_is_already_written_answers_as_a_duplicate(
    integration, traffic, line, gateway
):
    create_late_unit(line)
    replay(integration, traffic.failed)

    response = replay(integration, traffic.failed)

    record = DeviceDataRecord.objects.get(event_id="evt-late-unit")
    assert record.duplicate_count == 1
    assert DataValue.objects.filter(source_ref="device-data:evt-late-unit").count() == 1
    [(level, text)] = reported(response)
    assert level == "info" and "answered as a duplicate" in text


def test_replay_by_quality_staff_is_refused_and_changes_nothing(quality, traffic, line):
    create_late_unit(line)
    before = list(IntegrationMessage.objects.order_by("pk").values())

    response = replay(quality, traffic.failed)

    assert response.status_code == 200
    assert list(IntegrationMessage.objects.order_by("pk").values()) == before
    assert not DeviceDataRecord.objects.filter(event_id="evt-late-unit").exists()
    assert all("replayed" not in text for _level, text in reported(response))


def test_replay_is_written_to_the_admin_history(integration, traffic, line):
    from django.contrib.admin.models import LogEntry

    create_late_unit(line)
    replay(integration, traffic.failed)

    entry = LogEntry.objects.get(object_id=str(traffic.failed.pk))
    assert entry.user.username == "integration-admin"
    assert "Replayed as message" in entry.get_change_message()


@needs_postgresql("a row lock held by a second session, and the lock timeout")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_replay_the_database_cannot_take_now_is_reported_and_stores_nothing(
    integration, traffic, line, settings
):
    settings.INGEST_LOCK_TIMEOUT_MS = 200
    create_late_unit(line)
    # Writing the event resolves the FAILED message: its row is locked elsewhere.
    with row_locked("integration_integrationmessage", traffic.failed.pk):
        response = replay(integration, traffic.failed)

    assert response.status_code == 200
    [(level, text)] = reported(response)
    assert level == "error"
    assert "not replayed now" in text and "Nothing of this event was written" in text
    assert not DeviceDataRecord.objects.filter(event_id="evt-late-unit").exists()
    assert not IntegrationMessage.objects.filter(replay_of=traffic.failed).exists()
