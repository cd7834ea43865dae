"""Acknowledging a CONFLICT or a FAILED message that will not be replayed (issue 14).

The service's rules, the admin's list action and message form, who may do it,
the attention figures and metrics that leave acknowledged messages out, the
list filter, and the read API's fields and filter. Messages come from the real
ingestion service (`receive_traffic`).
"""

import re

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils.html import strip_tags

from integration.acknowledgements import NoteRequired, acknowledge_messages
from integration.dashboard import attention_figures
from integration.database_metrics import scrape_database
from integration.ingestion.service import receive_device_event, replay_failed_message
from integration.models import IntegrationMessage
from tests.factories import TrackFactory, UnitFactory, UserFactory, reflow_event
from tests.postgres import needs_postgresql, row_locked

LIST_URL = reverse("admin:integration_integrationmessage_changelist")
MESSAGES_API = "/api/integration/messages"


def change_url(message):
    return reverse("admin:integration_integrationmessage_change", args=[message.pk])


def acknowledge_url(message):
    return reverse("admin:integration_integrationmessage_acknowledge", args=[message.pk])


def listed(client, query="") -> list[int]:
    response = client.get(LIST_URL + query)
    assert response.status_code == 200
    return [message.pk for message in response.context["cl"].result_list]


def reported(response) -> list[tuple[str, str]]:
    return [(m.level_tag, strip_tags(str(m))) for m in get_messages(response.wsgi_request)]


def figures() -> dict:
    return {figure.key: figure for figure in attention_figures()}


def create_late_unit(line):
    unit = UnitFactory(sn="SN-LATE", run=line.run)
    return TrackFactory(unit=unit, step_no=40, station=line.station)


@pytest.fixture
def person(db):
    """Who acknowledges through the service (not the signed-in client's user)."""
    return UserFactory(username="quality-lead", is_staff=True, groups=["Quality staff"])


@pytest.fixture
def viewer(db, client):
    """Signed in, may view messages, may not acknowledge them."""
    user = UserFactory(username="viewer", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_integrationmessage"))
    client.force_login(user)
    return client


# --- the service's rules ----------------------------------------------------------------------


def test_acknowledging_a_conflict_keeps_who_when_and_why(traffic, person):
    outcome = acknowledge_messages([traffic.conflict], by=person, note="  Gateway bug, fixed  ")

    assert [m.pk for m in outcome.acknowledged] == [traffic.conflict.pk]
    traffic.conflict.refresh_from_db()
    assert traffic.conflict.acknowledged_by == person
    assert traffic.conflict.acknowledged_at is not None
    assert traffic.conflict.acknowledgement_note == "Gateway bug, fixed"
    assert traffic.conflict.updated_at == traffic.conflict.acknowledged_at


def test_acknowledging_an_unresolved_failed_message_keeps_it_failed_and_unresolved(traffic, person):
    acknowledge_messages([traffic.failed.pk], by=person, note="Test unit, never built")

    traffic.failed.refresh_from_db()
    assert traffic.failed.status == "FAILED" and traffic.failed.resolved_at is None
    assert traffic.failed.acknowledgement_note == "Test unit, never built"


def test_messages_that_need_no_attention_are_refused_and_left_unchanged(traffic, line, person):
    create_late_unit(line)
    replay_failed_message(traffic.failed, replayed_by=person)  # resolves it
    traffic.failed.refresh_from_db()
    refused = [traffic.success, traffic.duplicate, traffic.failed]

    outcome = acknowledge_messages(refused, by=person, note="nothing to do")

    assert {m.pk for m in outcome.refused} == {m.pk for m in refused}
    assert outcome.acknowledged == []
    assert not IntegrationMessage.objects.filter(acknowledged_at__isnull=False).exists()


@pytest.mark.parametrize("note", ["", "   ", None])
def test_an_empty_note_is_refused_and_nothing_is_written(traffic, person, note):
    with pytest.raises(NoteRequired):
        acknowledge_messages([traffic.conflict], by=person, note=note)

    traffic.conflict.refresh_from_db()
    assert traffic.conflict.acknowledged_at is None


def test_acknowledging_again_keeps_the_first_acknowledgement(traffic, person):
    acknowledge_messages([traffic.conflict], by=person, note="first")
    traffic.conflict.refresh_from_db()
    first_at = traffic.conflict.acknowledged_at
    someone_else = UserFactory(username="quality-2", is_staff=True, groups=["Quality staff"])

    outcome = acknowledge_messages([traffic.conflict], by=someone_else, note="second")

    assert [m.pk for m in outcome.already_acknowledged] == [traffic.conflict.pk]
    traffic.conflict.refresh_from_db()
    assert (traffic.conflict.acknowledged_at, traffic.conflict.acknowledged_by) == (
        first_at,
        person,
    )
    assert traffic.conflict.acknowledgement_note == "first"


def test_a_later_write_of_the_event_still_resolves_an_acknowledged_failed_message(
    traffic, line, gateway, person
):
    acknowledge_messages([traffic.failed], by=person, note="will not be replayed")
    create_late_unit(line)

    receive_device_event(reflow_event("evt-late-unit", unitSn="SN-LATE"), sent_by=gateway)

    traffic.failed.refresh_from_db()
    assert traffic.failed.resolved_at is not None
    assert traffic.failed.acknowledgement_note == "will not be replayed"


def test_an_acknowledged_failed_message_can_still_be_replayed(traffic, line, person):
    acknowledge_messages([traffic.failed], by=person, note="will not be replayed")
    create_late_unit(line)

    outcome = replay_failed_message(traffic.failed, replayed_by=person)

    assert not outcome.is_duplicate and outcome.message.replay_of_id == traffic.failed.pk
    traffic.failed.refresh_from_db()
    assert traffic.failed.resolved_at is not None


@needs_postgresql("a row lock held by a second session, and the lock timeout")
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_message_locked_elsewhere_is_waited_for_briefly_and_nothing_is_written(
    traffic, integration
):
    with row_locked("integration_integrationmessage", traffic.conflict.pk):
        response = integration.post(acknowledge_url(traffic.conflict), {"note": "x"}, follow=True)

    [(level, text)] = reported(response)
    assert level == "error" and "nothing was acknowledged" in text
    traffic.conflict.refresh_from_db()
    assert traffic.conflict.acknowledged_at is None


# --- what needs attention -----------------------------------------------------------------------


def test_acknowledged_messages_leave_the_attention_figures_and_their_lists(
    traffic, integration, person
):
    before = figures()
    assert (before["failed-unresolved"].count, before["conflicts"].count) == (1, 1)

    acknowledge_messages([traffic.conflict, traffic.failed], by=person, note="triaged")

    after = figures()
    assert (after["failed-unresolved"].count, after["conflicts"].count) == (0, 0)
    assert not after["conflicts"].needs_attention
    assert set(after) == {"failed-unresolved", "conflicts"}
    for figure in after.values():
        assert listed(integration, figure.url.removeprefix(LIST_URL)) == []


def test_the_attention_figures_link_to_lists_that_agree_with_them(traffic, integration):
    shown = figures()
    assert set(shown) == {"failed-unresolved", "conflicts"}
    for figure in shown.values():
        assert "acknowledged=no" in figure.url
        assert len(listed(integration, figure.url.removeprefix(LIST_URL))) == figure.count == 1


def test_the_attention_gauges_leave_acknowledged_messages_out(traffic, person):
    acknowledge_messages([traffic.conflict], by=person, note="triaged")

    text = scrape_database().decode()

    assert re.search(r"^mes_messages_conflicts 0\.0$", text, re.MULTILINE), text
    assert re.search(r"^mes_messages_unresolved_failed 1\.0$", text, re.MULTILINE), text


# --- the admin's list ---------------------------------------------------------------------------


def test_the_acknowledged_filter_lists_yes_and_no(traffic, quality, person):
    acknowledge_messages([traffic.conflict], by=person, note="triaged")

    assert listed(quality, "?acknowledged=yes") == [traffic.conflict.pk]
    assert traffic.conflict.pk not in listed(quality, "?acknowledged=no")
    assert traffic.failed.pk in listed(quality, "?acknowledged=no")
    assert listed(quality, "?status__exact=CONFLICT&acknowledged=no") == []


def test_the_list_marks_acknowledged_messages(traffic, quality, person):
    acknowledge_messages([traffic.conflict], by=person, note="triaged")

    page = quality.get(LIST_URL).content.decode()

    assert page.count('mes-badge mes-badge-ACKNOWLEDGED">acknowledged<') == 1


def test_the_action_asks_for_a_note_first_and_writes_nothing_yet(traffic, integration):
    response = integration.post(
        LIST_URL,
        {"action": "acknowledge_selected", "_selected_action": [traffic.conflict.pk]},
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="note"' in page and f"#{traffic.conflict.pk}" in page
    traffic.conflict.refresh_from_db()
    assert traffic.conflict.acknowledged_at is None


def test_the_action_with_a_note_acknowledges_each_message_and_reports_the_rest(
    traffic, integration
):
    selected = [traffic.conflict, traffic.failed, traffic.success]
    response = integration.post(
        LIST_URL,
        {
            "action": "acknowledge_selected",
            "_selected_action": [m.pk for m in selected],
            "apply": "1",
            "note": "Known gateway clock problem",
        },
        follow=True,
    )

    levels = dict(reported(response))
    assert "2 message(s) acknowledged" in levels["success"]
    assert f"#{traffic.success.pk} SUCCESS" in levels["warning"]
    acknowledged = IntegrationMessage.objects.filter(acknowledged_at__isnull=False)
    assert {m.pk for m in acknowledged} == {traffic.conflict.pk, traffic.failed.pk}
    assert {m.acknowledged_by.username for m in acknowledged} == {"integration-admin"}
    entry = LogEntry.objects.get(object_id=str(traffic.conflict.pk))
    assert "Known gateway clock problem" in entry.get_change_message()


def test_the_action_without_a_note_asks_again_and_writes_nothing(traffic, integration):
    response = integration.post(
        LIST_URL,
        {
            "action": "acknowledge_selected",
            "_selected_action": [traffic.conflict.pk],
            "apply": "1",
            "note": "  ",
        },
    )

    assert response.status_code == 200
    assert "This field is required" in response.content.decode()
    assert not IntegrationMessage.objects.filter(acknowledged_at__isnull=False).exists()


def test_quality_staff_may_acknowledge(traffic, quality):
    response = quality.post(acknowledge_url(traffic.conflict), {"note": "Checked with line 1"})

    assert response.status_code == 302
    traffic.conflict.refresh_from_db()
    assert traffic.conflict.acknowledged_by.username == "quality-staff"


def test_the_action_is_not_offered_without_the_permission(traffic, viewer):
    page = viewer.get(LIST_URL).content.decode()
    assert 'value="acknowledge_selected"' not in page

    response = viewer.post(
        LIST_URL,
        {
            "action": "acknowledge_selected",
            "_selected_action": [traffic.conflict.pk],
            "apply": "1",
            "note": "sneaky",
        },
    )

    assert response.status_code in (200, 302)
    assert not IntegrationMessage.objects.filter(acknowledged_at__isnull=False).exists()


# --- the message's page -------------------------------------------------------------------------


def test_a_conflict_and_an_unresolved_failure_offer_the_acknowledge_form(traffic, integration):
    for message in (traffic.conflict, traffic.failed):
        assert 'id="acknowledge-form"' in integration.get(change_url(message)).content.decode()
    for message in (traffic.success, traffic.duplicate):
        assert 'id="acknowledge-form"' not in integration.get(change_url(message)).content.decode()


def test_the_acknowledge_panel_stands_under_the_outcome_and_its_note_belongs_to_its_form(
    traffic, integration
):
    for message, button in (
        (traffic.conflict, 'value="Acknowledge this conflict"'),
        (traffic.failed, 'value="Acknowledge without replaying"'),
    ):
        page = integration.get(change_url(message)).content.decode()

        # In the page's flow: after the facts and outcome, before the payload.
        outcome, panel = page.index(">Outcome<"), page.index('id="acknowledge"')
        assert outcome < panel < page.index(">Payload as received<")
        assert '<label for="id_acknowledge_note">Why it needs no more attention:</label>' in page
        [note] = re.findall(r"<textarea[^>]*>", page)
        assert 'form="acknowledge-form"' in note and 'id="id_acknowledge_note"' in note
        assert button in page and 'id="acknowledge-submit"' in page
        assert f'action="{acknowledge_url(message)}"' in page


def test_the_form_acknowledges_then_the_page_shows_who_when_and_why(traffic, integration):
    response = integration.post(
        acknowledge_url(traffic.conflict), {"note": "Second payload was a test"}
    )

    assert response.status_code == 302 and response["Location"] == change_url(traffic.conflict)
    page = integration.get(change_url(traffic.conflict)).content.decode()
    traffic.conflict.refresh_from_db()
    assert 'id="acknowledgement"' in page
    assert "integration-admin" in page and "Second payload was a test" in page
    assert f"{traffic.conflict.acknowledged_at:%Y-%m-%d %H:%M:%S}" in page
    assert 'id="acknowledge-form"' not in page


def test_the_form_without_a_note_reports_an_error_and_writes_nothing(traffic, integration):
    response = integration.post(acknowledge_url(traffic.conflict), {"note": ""}, follow=True)

    [(level, _text)] = reported(response)
    assert level == "error"
    traffic.conflict.refresh_from_db()
    assert traffic.conflict.acknowledged_at is None


def test_the_form_is_refused_without_the_permission(traffic, viewer):
    assert 'id="acknowledge-form"' not in viewer.get(change_url(traffic.conflict)).content.decode()

    response = viewer.post(acknowledge_url(traffic.conflict), {"note": "sneaky"})

    assert response.status_code == 403
    traffic.conflict.refresh_from_db()
    assert traffic.conflict.acknowledged_at is None


def test_the_form_answers_only_posts(traffic, integration):
    assert integration.get(acknowledge_url(traffic.conflict)).status_code == 405


# --- the read API -------------------------------------------------------------------------------


def test_the_messages_api_says_who_acknowledged_when_and_why(traffic, quality_client, person):
    acknowledge_messages([traffic.conflict], by=person, note="triaged")
    traffic.conflict.refresh_from_db()

    items = quality_client.get(MESSAGES_API, {"acknowledged": "true"}).json()["data"]["items"]

    assert [item["id"] for item in items] == [str(traffic.conflict.pk)]
    assert items[0]["acknowledgedBy"] == "quality-lead"
    assert items[0]["acknowledgementNote"] == "triaged"
    assert items[0]["acknowledgedAt"].endswith("Z")
    others = quality_client.get(MESSAGES_API, {"acknowledged": "false"}).json()["data"]["items"]
    assert str(traffic.conflict.pk) not in {item["id"] for item in others}
    assert len(others) == 4


def test_an_unknown_acknowledged_value_is_a_400(traffic, quality_client):
    response = quality_client.get(MESSAGES_API, {"acknowledged": "maybe"})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
